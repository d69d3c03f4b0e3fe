//! Line colours that stay apart: Tableau 10 followed by four dark colours, all dark enough to
//! show on white. Series past the fourteenth reuse the colours with a dashed line.

use plotters::style::RGBColor;

/// The series colours, in the order series are drawn.
pub(crate) const PALETTE: [RGBColor; 14] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(127, 127, 127), // grey
    RGBColor(188, 189, 34),  // olive
    RGBColor(23, 190, 207),  // cyan
    RGBColor(0, 0, 128),     // navy
    RGBColor(128, 0, 0),     // maroon
    RGBColor(0, 100, 90),    // dark teal
    RGBColor(0, 0, 0),       // black
];

/// The colour of series `i`, and whether its line is dashed (from the second round of colours).
pub(crate) fn style_of(i: usize) -> (RGBColor, bool) {
    (PALETTE[i % PALETTE.len()], i >= PALETTE.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIE L*a*b* of an sRGB colour (D65 white), as in the sRGB and CIE 1976 definitions.
    fn lab(RGBColor(r, g, b): RGBColor) -> [f64; 3] {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let (r, g, b) = (lin(r), lin(g), lin(b));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    }

    fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    fn rgb(c: RGBColor) -> [f64; 3] {
        [f64::from(c.0), f64::from(c.1), f64::from(c.2)]
    }

    /// The palette problems, or none: two colours too alike (RGB distance ≤ 60 or
    /// CIE76 ΔE ≤ 25) or one too pale for a white background (L* ≥ 78).
    fn problems(colours: &[RGBColor]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, &a) in colours.iter().enumerate() {
            if lab(a)[0] >= 78.0 {
                out.push(format!("{i} {a:?} is too pale (L* {:.0})", lab(a)[0]));
            }
            for (j, &b) in colours.iter().enumerate().skip(i + 1) {
                let (d_rgb, d_e) = (distance(rgb(a), rgb(b)), distance(lab(a), lab(b)));
                if d_rgb <= 60.0 || d_e <= 25.0 {
                    out.push(format!(
                        "{i} and {j} too alike (RGB {d_rgb:.0}, ΔE {d_e:.0})"
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn fourteen_colours_are_distinct_and_dark_enough() {
        assert_eq!(problems(&PALETTE), Vec::<String>::new());
        // The palette used before (plotters' Palette99) fails: pale yellows among the first 14.
        let old: Vec<RGBColor> = [
            (230, 25, 75),
            (60, 180, 75),
            (255, 225, 25),
            (0, 130, 200),
            (245, 130, 48),
            (145, 30, 180),
            (70, 240, 240),
            (240, 50, 230),
            (210, 245, 60),
            (250, 190, 190),
            (0, 128, 128),
            (230, 190, 255),
            (170, 110, 40),
            (255, 250, 200),
        ]
        .into_iter()
        .map(|(r, g, b)| RGBColor(r, g, b))
        .collect();
        assert!(problems(&old).iter().any(|p| p.contains("too pale")));
    }

    #[test]
    fn series_past_the_palette_are_dashed() {
        assert_eq!(style_of(0), (PALETTE[0], false));
        assert_eq!(style_of(13), (PALETTE[13], false));
        assert_eq!(style_of(14), (PALETTE[0], true));
    }
}
