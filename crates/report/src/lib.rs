//! Write run reports: markdown and CSV tables, and line charts and heatmaps as PNG with an embedded font.
//!
//! Every report of deai (training runs, the demo, the robustness grid, the decentralization study)
//! is a folder of plain files a person can open: `report.md`, `*.csv`, `*.json` and PNG plots.
//! This crate holds the pieces they share so that each report looks the same and needs no
//! system library: the font (DejaVu Sans) is compiled into the binary and rendered by plotters'
//! pure-Rust `ab_glyph` backend.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;

mod axis;
mod line;
mod palette;

pub use line::{LineChart, Series};

/// The font every plot uses, embedded so no system font library is needed.
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
/// The family name the embedded font is registered under.
const FONT_FAMILY: &str = "sans-serif";

/// Errors while writing a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Drawing a plot failed (bad data range, encoder error, missing folder).
    #[error("cannot draw {path}: {reason}")]
    Plot {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The input given to a plot or table is not drawable.
    #[error("cannot draw {what}: {reason}")]
    Input {
        /// What was being drawn.
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file; if plotters ever rejected it, text would be
        // missing from the plots but the plots would still be written, so the error is ignored.
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT);
    });
}

fn plot_err(path: &Path, err: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

/// A heatmap: one colored cell per (row, column) with its value printed inside.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Caption above the plot.
    pub title: String,
    /// Row labels, top to bottom.
    pub rows: Vec<String>,
    /// Column labels, left to right.
    pub cols: Vec<String>,
    /// `values[r][c]`; `NaN` draws a grey cell with no number.
    pub values: Vec<Vec<f64>>,
    /// The value range mapped onto the color scale (low = red, high = green).
    pub range: (f64, f64),
}

impl Heatmap {
    /// Renders the heatmap as a PNG; the size follows the number of cells.
    pub fn save_png(&self, path: &Path) -> Result<(), ReportError> {
        register_font();
        if self.values.len() != self.rows.len()
            || self.values.iter().any(|r| r.len() != self.cols.len())
        {
            return Err(ReportError::Input {
                what: self.title.clone(),
                reason: format!(
                    "values must be {}×{} to match the labels",
                    self.rows.len(),
                    self.cols.len()
                ),
            });
        }
        let (cell_w, cell_h, left, top) = (110u32, 34u32, 170u32, 80u32);
        let width = left + cell_w * self.cols.len() as u32 + 20;
        let height = top + cell_h * self.rows.len() as u32 + 20;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let title_style = TextStyle::from((FONT_FAMILY, 20).into_font()).color(&BLACK);
        root.draw_text(&self.title, &title_style, (10, 10))
            .map_err(|e| plot_err(path, e))?;
        let label = TextStyle::from((FONT_FAMILY, 13).into_font()).color(&BLACK);
        let (lo, hi) = self.range;
        let span = if hi > lo { hi - lo } else { 1.0 };
        for (c, name) in self.cols.iter().enumerate() {
            let x = (left + cell_w * c as u32 + 4) as i32;
            root.draw_text(name, &label, (x, (top - 22) as i32))
                .map_err(|e| plot_err(path, e))?;
        }
        for (r, name) in self.rows.iter().enumerate() {
            let y = (top + cell_h * r as u32) as i32;
            root.draw_text(name, &label, (10, y + 10))
                .map_err(|e| plot_err(path, e))?;
            for (c, &v) in self.values[r].iter().enumerate() {
                let x = (left + cell_w * c as u32) as i32;
                let fill = if v.is_finite() {
                    let t = ((v - lo) / span).clamp(0.0, 1.0);
                    RGBColor((255.0 * (1.0 - t)) as u8, (200.0 * t + 40.0) as u8, 60)
                } else {
                    RGBColor(200, 200, 200)
                };
                let rect = Rectangle::new(
                    [(x, y), (x + cell_w as i32 - 2, y + cell_h as i32 - 2)],
                    fill.filled(),
                );
                root.draw(&rect).map_err(|e| plot_err(path, e))?;
                if v.is_finite() {
                    let text = format!("{v:.3}");
                    root.draw_text(&text, &label, (x + 8, y + 10))
                        .map_err(|e| plot_err(path, e))?;
                }
            }
        }
        root.present().map_err(|e| plot_err(path, e))
    }
}

/// A table rendered as GitHub markdown or CSV.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, already formatted.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the given column names and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (cells beyond the header count are kept, missing ones render empty).
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    /// The table as GitHub-flavored markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let cell = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} |",
            self.headers
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(out, "|{}", "---|".repeat(self.headers.len()));
        for row in &self.rows {
            let cells: Vec<String> = (0..self.headers.len())
                .map(|i| row.get(i).map(|s| cell(s)).unwrap_or_default())
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// The table as CSV (RFC 4180 quoting where a cell needs it).
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            self.headers
                .iter()
                .map(|h| quote(h))
                .collect::<Vec<_>>()
                .join(",")
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{}",
                row.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",")
            );
        }
        out
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, so a reader never sees a
/// half-written report.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).map_err(|source| ReportError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_png(path: &Path) -> bool {
        std::fs::read(path)
            .map(|b| b.starts_with(b"\x89PNG") && b.len() > 1000)
            .unwrap_or(false)
    }

    #[test]
    fn line_chart_writes_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.png");
        LineChart::new("accuracy", "round", "accuracy")
            .with(Series::new("a", vec![(0.0, 0.1), (1.0, 0.5), (2.0, 0.8)]))
            .with(Series::new("b", vec![(0.0, 0.2), (2.0, 0.6)]))
            .save_png(&path, 640, 400)
            .unwrap();
        assert!(is_png(&path));
    }

    #[test]
    fn line_chart_without_points_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = LineChart::new("empty", "x", "y")
            .save_png(&dir.path().join("e.png"), 100, 100)
            .unwrap_err();
        assert!(err.to_string().contains("no finite points"), "{err}");
    }

    #[test]
    fn heatmap_checks_shape_and_writes_png() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Heatmap {
            title: "t".into(),
            rows: vec!["r0".into(), "r1".into()],
            cols: vec!["c0".into()],
            values: vec![vec![0.5], vec![f64::NAN]],
            range: (0.0, 1.0),
        };
        h.save_png(&dir.path().join("h.png")).unwrap();
        assert!(is_png(&dir.path().join("h.png")));
        h.values.pop();
        assert!(h.save_png(&dir.path().join("bad.png")).is_err());
    }

    #[test]
    fn tables_render_markdown_and_csv() {
        let mut t = Table::new(["name", "value"]);
        t.push(["a|b", "1"]);
        t.push(["c,d", "2"]);
        assert_eq!(
            t.to_markdown(),
            "| name | value |\n|---|---|\n| a\\|b | 1 |\n| c,d | 2 |\n"
        );
        assert_eq!(t.to_csv(), "name,value\na|b,1\n\"c,d\",2\n");
    }
}
