//! Line charts: round ticks (whole numbers on round and epoch axes), y labels in SI units in a
//! label area as wide as they are, and the legend in a column right of the chart, never over
//! the data.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{all_integers, TickedAxis, Ticks};
use crate::palette::style_of;
use crate::{plot_err, register_font, ReportError, FONT_FAMILY};

/// A closed interval `(low, high)` of an axis.
type Range = (f64, f64);

/// Blank border around the chart, in pixels.
const MARGIN: u32 = 12;
/// Height of the x axis labels and description under the data, in pixels.
const X_LABEL_AREA: u32 = 44;
/// Font size of the caption.
const CAPTION_SIZE: u32 = 22;
/// Font size of the tick labels and axis descriptions.
const LABEL_SIZE: u32 = 14;
/// Font size of the legend.
const LEGEND_SIZE: u32 = 13;
/// Height of one legend entry.
const LEGEND_ROW: u32 = 20;
/// Length of the line sample in front of a legend entry.
const LEGEND_SWATCH: u32 = 24;
/// Space between the swatch and the text, and around the legend.
const LEGEND_GAP: u32 = 8;
/// The legend takes at most this share of the canvas width; longer names are shortened.
const LEGEND_MAX_SHARE: f64 = 0.4;

/// One named line of a [`LineChart`].
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its label and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// A line chart of one or more series sharing both axes.
///
/// When every x value is a whole number (rounds, epochs) the x ticks are whole numbers too.
/// With more than one series, a legend is drawn in a column right of the chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Caption above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

impl LineChart {
    /// An empty chart with a title and axis labels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
        }
    }

    /// Adds a line.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    fn finite_points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    }

    fn bounds(&self) -> Result<(Range, Range), ReportError> {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for (x, y) in self.finite_points() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !x0.is_finite() {
            return Err(ReportError::Input {
                what: self.title.clone(),
                reason: "no finite points".into(),
            });
        }
        // A little room past the data, so a line on the edge stays visible and a tick on the
        // lowest value keeps its label (plotters drops labels on the axis end itself).
        let pad = |lo: f64, hi: f64, below: f64| {
            if hi > lo {
                (lo - (hi - lo) * below, hi + (hi - lo) * 0.02)
            } else {
                (lo - 0.5, hi + 0.5)
            }
        };
        Ok((pad(x0, x1, 0.0), pad(y0, y1, 0.02)))
    }

    /// Renders the chart as a PNG of `width`×`height` pixels (the legend, if any, included).
    pub fn save_png(&self, path: &Path, width: u32, height: u32) -> Result<(), ReportError> {
        register_font();
        let layout = Layout::new(self, width, height)?;
        let (x_range, y_range) = layout.bounds;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (chart_area, _) = root.split_horizontally(layout.chart.x1);
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(&self.title, (FONT_FAMILY, CAPTION_SIZE))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(layout.y_label_area)
            .build_cartesian_2d(
                TickedAxis::new(x_range, layout.x_ticks.clone()),
                TickedAxis::new(y_range, layout.y_ticks.clone()),
            )
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT_FAMILY, LABEL_SIZE))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (i, s) in self.series.iter().enumerate() {
            let (color, dashed) = style_of(i);
            let style = color.stroke_width(2);
            let points = s.points.iter().copied();
            if dashed {
                chart.draw_series(DashedLineSeries::new(points, 8, 5, style))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            }
            .map_err(|e| plot_err(path, e))?;
        }
        if let Some(legend) = &layout.legend {
            let text = TextStyle::from((FONT_FAMILY, LEGEND_SIZE).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            for (i, entry) in legend.entries.iter().enumerate() {
                let (color, dashed) = style_of(i);
                let (x, y) = (entry.x, entry.y);
                let swatch = LEGEND_SWATCH as i32;
                let segments: Vec<(i32, i32)> = if dashed {
                    vec![(x, x + 8), (x + 13, x + swatch)]
                } else {
                    vec![(x, x + swatch)]
                };
                for (a, b) in segments {
                    root.draw(&PathElement::new(
                        vec![(a, y), (b, y)],
                        color.stroke_width(3),
                    ))
                    .map_err(|e| plot_err(path, e))?;
                }
                root.draw_text(&entry.label, &text, (x + swatch + LEGEND_GAP as i32, y))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        root.present().map_err(|e| plot_err(path, e))
    }
}

/// A rectangle of the canvas in pixels, `x0..x1` × `y0..y1` (ends excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    /// True when the two rectangles share a pixel.
    #[cfg(test)]
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    /// True when `other` lies inside `self`.
    #[cfg(test)]
    pub fn contains(&self, other: &Rect) -> bool {
        self.x0 <= other.x0 && other.x1 <= self.x1 && self.y0 <= other.y0 && other.y1 <= self.y1
    }
}

/// One legend entry: the left end of its line sample, its vertical centre, and its text
/// (shortened with `…` if the name is too long for the legend column).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub x: i32,
    pub y: i32,
    pub label: String,
}

/// The legend column right of the chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Legend {
    /// The pixels the legend may draw on.
    pub area: Rect,
    /// One entry per series, in series order.
    pub entries: Vec<LegendEntry>,
}

/// Where the parts of a line chart go on its canvas, and its ticks.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Axis ranges.
    pub bounds: (Range, Range),
    /// Caption, axes and data.
    pub chart: Rect,
    /// Width of the y tick labels and description, left of the data.
    pub y_label_area: u32,
    /// The legend, when there is more than one series.
    pub legend: Option<Legend>,
    pub x_ticks: Ticks,
    pub y_ticks: Ticks,
}

impl Layout {
    pub fn new(chart: &LineChart, width: u32, height: u32) -> Result<Self, ReportError> {
        let bounds @ ((x0, x1), (y0, y1)) = chart.bounds()?;
        let (w, h) = (width as i32, height as i32);
        let top = (MARGIN + text_size(&chart.title, CAPTION_SIZE).1 + 2 * LEGEND_GAP) as i32;

        let legend = (chart.series.len() > 1).then(|| {
            let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
            legend(&names, w, h, top)
        });
        let chart_right = legend.as_ref().map_or(w, |l| l.area.x0);

        let data_height = (h - top - (X_LABEL_AREA + MARGIN) as i32).max(40);
        let y_ticks = Ticks::new(y0, y1, (data_height / 50).clamp(2, 10) as usize, false);
        let widest_y = y_ticks
            .values
            .iter()
            .map(|&v| text_size(&y_ticks.format.label(v), LABEL_SIZE).0)
            .max()
            .unwrap_or(0);
        // Description (rotated), a gap, the labels, and the tick marks with their gap of 10.
        let y_label_area = text_size("Ay", LABEL_SIZE).1 + 8 + widest_y + 14;

        let data_width = (chart_right - (2 * MARGIN + y_label_area) as i32).max(40);
        let x_integer = all_integers(chart.finite_points().map(|(x, _)| x));
        let x_ticks = Ticks::new(x0, x1, (data_width / 70).clamp(2, 12) as usize, x_integer);

        Ok(Self {
            bounds,
            chart: Rect {
                x0: 0,
                y0: 0,
                x1: chart_right,
                y1: h,
            },
            y_label_area,
            legend,
            x_ticks,
            y_ticks,
        })
    }
}

/// A legend for `names` at the right of a `width`×`height` canvas, starting `top` pixels down:
/// as many columns as the rows need, names shortened so it keeps to its share of the width.
fn legend(names: &[&str], width: i32, height: i32, top: i32) -> Legend {
    let row = LEGEND_ROW as i32;
    let gap = LEGEND_GAP as i32;
    let rows_fit = ((height - top - MARGIN as i32) / row).max(1) as usize;
    let columns = names.len().div_ceil(rows_fit).max(1);
    let rows = names.len().div_ceil(columns);
    let entry_extra = (LEGEND_SWATCH + LEGEND_GAP) as i32 + 2 * gap;
    let max_text = ((width as f64 * LEGEND_MAX_SHARE) as i32 - gap) / columns as i32 - entry_extra;
    let labels: Vec<String> = names
        .iter()
        .map(|n| shorten(n, max_text.max(20) as u32))
        .collect();
    let widest = labels
        .iter()
        .map(|l| text_size(l, LEGEND_SIZE).0 as i32)
        .max()
        .unwrap_or(0);
    let column_width = widest + entry_extra;
    let x0 = width - columns as i32 * column_width - gap;
    let entries = labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| LegendEntry {
            x: x0 + gap + (i / rows) as i32 * column_width,
            y: top + (i % rows) as i32 * row + row / 2,
            label,
        })
        .collect();
    Legend {
        area: Rect {
            x0,
            y0: top,
            x1: width,
            y1: top + rows as i32 * row,
        },
        entries,
    }
}

/// `text` cut to at most `max_width` pixels at the legend font, ending in `…` when cut.
fn shorten(text: &str, max_width: u32) -> String {
    if text_size(text, LEGEND_SIZE).0 <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .rev()
        .map(|n| format!("{}…", chars[..n].iter().collect::<String>().trim_end()))
        .find(|s| text_size(s, LEGEND_SIZE).0 <= max_width)
        .unwrap_or_else(|| "…".into())
}

/// Width and height of `text` in the embedded font at `size`; an estimate if the font is missing.
fn text_size(text: &str, size: u32) -> (u32, u32) {
    register_font();
    (FONT_FAMILY, size)
        .into_font()
        .box_size(text)
        .unwrap_or_else(|_| (text.chars().count() as u32 * size * 3 / 5, size * 6 / 5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: usize, name: impl Fn(usize) -> String, scale: f64) -> LineChart {
        (0..series).fold(
            LineChart::new("Cumulative rewards", "round", "reward"),
            |c, i| {
                c.with(Series::new(
                    name(i),
                    (1..=20)
                        .map(|r| (r as f64, scale * (r * (i + 1)) as f64))
                        .collect(),
                ))
            },
        )
    }

    fn text_box(entry: &LegendEntry) -> Rect {
        let (w, h) = text_size(&entry.label, LEGEND_SIZE);
        Rect {
            x0: entry.x,
            y0: entry.y - h as i32 / 2,
            x1: entry.x + (LEGEND_SWATCH + LEGEND_GAP + w) as i32,
            y1: entry.y + h.div_ceil(2) as i32,
        }
    }

    #[test]
    fn legend_sits_beside_the_chart_and_holds_every_entry() {
        for (series, size) in [(2, (900, 500)), (14, (1000, 600)), (40, (1000, 560))] {
            let c = chart(series, |i| format!("validator-{i} (honest)"), 1.0);
            let layout = Layout::new(&c, size.0, size.1).unwrap();
            let legend = layout.legend.expect("more than one series has a legend");
            let canvas = Rect {
                x0: 0,
                y0: 0,
                x1: size.0 as i32,
                y1: size.1 as i32,
            };
            assert!(!legend.area.overlaps(&layout.chart), "{series} series");
            assert!(canvas.contains(&legend.area), "{series} series");
            assert_eq!(legend.entries.len(), series);
            for (i, e) in legend.entries.iter().enumerate() {
                let b = text_box(e);
                assert!(legend.area.contains(&b), "entry {i} of {series}: {b:?}");
                for other in &legend.entries[i + 1..] {
                    assert!(!b.overlaps(&text_box(other)), "entry {i} of {series}");
                }
            }
            assert!(layout.chart.x1 >= size.0 as i32 / 2, "the data keeps room");
        }
        let single = Layout::new(&chart(1, |_| "a".into(), 1.0), 800, 400).unwrap();
        assert!(single.legend.is_none());
        assert_eq!(single.chart.x1, 800);
    }

    #[test]
    fn long_names_are_shortened_to_fit() {
        let c = chart(
            3,
            |i| format!("{i}: {}", "a very long scenario name ".repeat(6)),
            1.0,
        );
        let layout = Layout::new(&c, 900, 500).unwrap();
        let legend = layout.legend.unwrap();
        assert!(legend.area.x1 - legend.area.x0 <= 360);
        assert!(legend.entries.iter().all(|e| e.label.ends_with('…')));
        assert!(legend.entries[2].label.starts_with("2: a very"));
    }

    #[test]
    fn y_label_area_fits_large_values() {
        // Cumulative rewards in base units: the old plot clipped these to "00000000.0".
        let layout = Layout::new(&chart(2, |i| i.to_string(), 1.0e7), 1000, 600).unwrap();
        let labels: Vec<String> = layout
            .y_ticks
            .values
            .iter()
            .map(|&v| layout.y_ticks.format.label(v))
            .collect();
        assert!(labels.iter().all(|l| l.len() <= 5), "{labels:?}");
        assert!(labels.iter().any(|l| l.ends_with('M')), "{labels:?}");
        let widest = labels
            .iter()
            .map(|l| text_size(l, LABEL_SIZE).0)
            .max()
            .unwrap();
        assert!(layout.y_label_area >= widest + 30);
        // Rounds are whole numbers, so the x ticks are too.
        let x: Vec<String> = layout
            .x_ticks
            .values
            .iter()
            .map(|&v| layout.x_ticks.format.label(v))
            .collect();
        assert!(x.iter().all(|l| l.parse::<u32>().is_ok()), "{x:?}");
    }

    #[test]
    fn measured_text_is_as_wide_as_drawn_text() {
        // The layout trusts text_size; check it against the pixels plotters draws.
        for text in [
            "governance voting power",
            "miner-7 (free_rider_noise)",
            "1.2M",
        ] {
            let (w, h) = (400usize, 40usize);
            let mut buf = vec![255u8; w * h * 3];
            {
                let root =
                    BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
                let style = TextStyle::from((FONT_FAMILY, LEGEND_SIZE).into_font())
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                root.draw_text(text, &style, (10, 20)).unwrap();
                root.present().unwrap();
            }
            let right = (0..w * h)
                .filter(|i| buf[i * 3] < 200)
                .map(|i| i % w)
                .max()
                .unwrap();
            let drawn = right as i64 - 10;
            let measured = i64::from(text_size(text, LEGEND_SIZE).0);
            assert!(
                (drawn - measured).abs() <= 3,
                "{text}: {drawn} vs {measured}"
            );
        }
    }
}
