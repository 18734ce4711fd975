//! A minimal SVG line chart, written by hand (no plotting crate: the bench must build offline
//! from what the workspace already has). Enough for the growth curves of `--curves`: a few
//! series over categorical x values (profile counts), each point a median with a min–max bar,
//! optionally a logarithmic y axis and horizontal reference lines (floors).

use std::fmt::Write as _;

use super::Results;

/// One line of a chart: `(x index, median, min, max)` per point.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(usize, f64, f64, f64)>,
}

/// One panel.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// The x values, shown evenly spaced (categorical: 0, 10, 100, 250, 1000).
    pub xs: Vec<usize>,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Dashed horizontal lines: `(label, y)`.
    pub hlines: Vec<(String, f64)>,
    /// Formats a y value for the axis.
    pub y_unit: YUnit,
}

#[derive(Debug, Clone, Copy)]
pub enum YUnit {
    Seconds,
    MiB,
}

impl YUnit {
    fn tick(self, v: f64) -> String {
        match self {
            YUnit::Seconds if v < 1.0 => format!("{v:.1} s"),
            YUnit::Seconds => format!("{v:.0} s"),
            YUnit::MiB => format!("{v:.0} MiB"),
        }
    }
}

const W: f64 = 760.0;
const H: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Round tick values covering `lo..=hi`: 1-2-5 steps (log axis) or ~5 even steps (linear).
fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi * 10.0 {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    } else {
        let span = (hi - lo).max(f64::MIN_POSITIVE);
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 6.0)
            .unwrap_or(10.0 * mag);
        let mut v = (lo / step).ceil() * step;
        let mut out = Vec::new();
        while v <= hi + step * 1e-9 {
            out.push(v);
            v += step;
        }
        out
    }
}

impl Chart {
    fn y_range(&self) -> (f64, f64) {
        let vals = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]))
            .chain(self.hlines.iter().map(|h| h.1))
            .filter(|v| v.is_finite() && (!self.log_y || *v > 0.0));
        let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() {
            return if self.log_y { (0.1, 1.0) } else { (0.0, 1.0) };
        }
        if self.log_y {
            lo = 10f64.powf(lo.log10().floor());
            hi = 10f64.powf(hi.log10().ceil());
            if hi <= lo {
                hi = lo * 10.0;
            }
        } else {
            lo = 0.0;
            hi = if hi > 0.0 { hi * 1.1 } else { 1.0 };
        }
        (lo, hi)
    }

    /// This panel as SVG elements, its top-left corner at `(0, y0)`.
    fn render(&self, out: &mut String, y0: f64) {
        let (lo, hi) = self.y_range();
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let n = self.xs.len().max(1);
        let x_at = |i: usize| {
            if n == 1 {
                LEFT + plot_w / 2.0
            } else {
                LEFT + plot_w * i as f64 / (n - 1) as f64
            }
        };
        let y_at = |v: f64| {
            let f = if self.log_y {
                (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
            } else {
                (v - lo) / (hi - lo)
            };
            y0 + TOP + plot_h * (1.0 - f.clamp(0.0, 1.0))
        };
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>"#,
            LEFT,
            y0 + 24.0,
            esc(&self.title)
        );
        // Axes and grid.
        for t in ticks(lo, hi, self.log_y) {
            let y = y_at(t);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y + 4.0,
                esc(&self.y_unit.tick(t))
            );
        }
        for (i, x) in self.xs.iter().enumerate() {
            let px = x_at(i);
            let _ = writeln!(
                out,
                r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{x}</text>"##,
                y0 + TOP,
                y0 + TOP + plot_h,
                y0 + TOP + plot_h + 16.0
            );
        }
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#444"/>"##,
            y0 + TOP
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            y0 + H - 10.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            out,
            r#"<text x="16" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
            y0 + TOP + plot_h / 2.0,
            y0 + TOP + plot_h / 2.0,
            esc(&self.y_label)
        );
        // Legend on the right.
        let mut ly = y0 + TOP + 8.0;
        let legend_x = LEFT + plot_w + 16.0;
        for (label, v) in &self.hlines {
            let y = y_at(*v);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#888" stroke-dasharray="6 4"/>"##,
                LEFT + plot_w
            );
            let _ = writeln!(
                out,
                r##"<line x1="{legend_x:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#888" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"##,
                legend_x + 24.0,
                legend_x + 30.0,
                ly + 4.0,
                esc(label)
            );
            ly += 18.0;
        }
        for s in &self.series {
            let pts: Vec<String> = s
                .points
                .iter()
                .filter(|p| p.1.is_finite() && (!self.log_y || p.1 > 0.0))
                .map(|p| format!("{:.1},{:.1}", x_at(p.0), y_at(p.1)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                pts.join(" ")
            );
            for &(i, med, min, max) in &s.points {
                if !(med.is_finite() && (!self.log_y || (med > 0.0 && min > 0.0))) {
                    continue;
                }
                let px = x_at(i);
                let _ = writeln!(
                    out,
                    r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{c}"/><circle cx="{px:.1}" cy="{:.1}" r="3.5" fill="{c}"/>"#,
                    y_at(min),
                    y_at(max),
                    y_at(med),
                    c = s.color
                );
            }
            let _ = writeln!(
                out,
                r#"<line x1="{legend_x:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
                legend_x + 24.0,
                s.color,
                legend_x + 30.0,
                ly + 4.0,
                esc(&s.label)
            );
            ly += 18.0;
        }
    }
}

/// The panels stacked vertically in one SVG document, with a caption line at the bottom.
pub fn svg(charts: &[Chart], caption: &str) -> String {
    let total_h = H * charts.len() as f64 + 30.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" viewBox="0 0 {W} {total_h}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, c) in charts.iter().enumerate() {
        c.render(&mut out, H * i as f64);
    }
    let _ = writeln!(
        out,
        r##"<text x="10" y="{:.1}" font-size="10" fill="#555">{}</text>"##,
        total_h - 10.0,
        esc(caption)
    );
    out.push_str("</svg>\n");
    out
}

/// A series from the figures `<prefix><x>` (e.g. `curves.tmpfs.boot_` + `250`), in `unit_div`
/// units (1000 for ms → s, 1 MiB for bytes → MiB). Points whose figure is missing are left out.
pub fn series_from(
    results: &Results,
    xs: &[usize],
    prefix: &str,
    label: &str,
    color: &'static str,
    unit_div: f64,
) -> Series {
    let points = xs
        .iter()
        .enumerate()
        .filter_map(|(i, x)| {
            let s = results.get(&format!("{prefix}{x}"))?.stats?;
            Some((i, s.median / unit_div, s.min / unit_div, s.max / unit_div))
        })
        .collect();
    Series {
        label: label.to_string(),
        color,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures::CURVES_BOOT;

    #[test]
    fn log_ticks_are_1_2_5() {
        assert_eq!(
            ticks(0.1, 10.0, true),
            vec![0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
        );
        let lin = ticks(0.0, 1100.0, false);
        assert_eq!(lin.first(), Some(&0.0));
        assert!(lin.len() >= 3 && lin.len() <= 7, "{lin:?}");
    }

    #[test]
    fn chart_from_figures_is_one_svg_with_a_line_per_series() {
        let mut r = Results::default();
        let tmpfs = [("{mode}", "tmpfs"), ("{run}", "x")];
        let at = |n: &str| CURVES_BOOT.fill(&[tmpfs[0], tmpfs[1], ("{n}", n)]);
        r.push(at("0").measured(vec![700.0, 800.0]));
        r.push(at("10").measured(vec![900.0]));
        let xs = vec![0, 10, 100];
        let s = series_from(
            &r,
            &xs,
            &CURVES_BOOT.prefix(&tmpfs),
            "tmpfs <run>",
            "#1f77b4",
            1000.0,
        );
        // The missing 100 is left out, not plotted as zero.
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[0], (0, 0.75, 0.7, 0.8));
        let chart = Chart {
            title: "boot".into(),
            x_label: "profiles".into(),
            y_label: "s".into(),
            xs,
            log_y: true,
            series: vec![s],
            hlines: vec![("floor".into(), 0.3)],
            y_unit: YUnit::Seconds,
        };
        let doc = svg(&[chart], "a & b");
        assert!(doc.starts_with("<svg "));
        assert!(doc.trim_end().ends_with("</svg>"));
        assert_eq!(doc.matches("<polyline").count(), 1);
        assert_eq!(doc.matches("<circle").count(), 2);
        // Text is escaped.
        assert!(doc.contains("tmpfs &lt;run&gt;") && doc.contains("a &amp; b"));
        assert!(!doc.contains("NaN") && !doc.contains("inf"));
    }
}
