//! Charts drawn on the server as SVG (no script in the console): a bar per day or week, each
//! with its number as a tooltip and in a table beside it for screen readers and for print.
//! Small numbers can be suppressed (drawn as a hatched stub and written "<5") where the reader
//! sees no names.

use std::fmt::Write as _;

/// One bar: its label (a day, a week), its value, and the value as shown (`"<5"` when
/// suppressed; the bar is then drawn as a stub, not to scale).
pub struct Bar {
    /// Under the bar.
    pub label: String,
    /// The value drawn (`None`: suppressed).
    pub value: Option<i64>,
    /// The value written.
    pub shown: String,
}

/// A bar chart.
pub struct Chart {
    /// Its id in the page (for its title, and for tests).
    pub id: &'static str,
    /// Its title.
    pub title: String,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Chart {
    /// The chart as an SVG element, sized by its container (`width: 100%`).
    pub fn svg(&self) -> String {
        // Small enough that its words stay readable when a phone shrinks it.
        const WIDTH: f64 = 420.0;
        const HEIGHT: f64 = 150.0;
        const TOP: f64 = 18.0;
        const BOTTOM: f64 = 24.0;
        const LEFT: f64 = 8.0;
        let plot = HEIGHT - TOP - BOTTOM;
        let most = self
            .bars
            .iter()
            .filter_map(|bar| bar.value)
            .max()
            .unwrap_or(0)
            .max(1);
        let slot = (WIDTH - 2.0 * LEFT) / self.bars.len().max(1) as f64;
        let bar_width = (slot * 0.7).max(2.0);
        let title_id = format!("{}-title", self.id);
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id}"><title id="{title_id}">{title}</title>"#,
            id = self.id,
            title = escape(&self.title),
        );
        let _ = write!(
            svg,
            r##"<defs><pattern id="{id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#6b7280"/></pattern></defs>"##,
            id = self.id
        );
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#6b7280" stroke-width="1"/>"##,
            base = TOP + plot,
            right = WIDTH - LEFT,
        );
        // Five or so labels: every few bars, and always the last.
        let every = self.bars.len().div_ceil(5).max(1);
        for (index, bar) in self.bars.iter().enumerate() {
            let x = LEFT + slot * index as f64 + (slot - bar_width) / 2.0;
            let (height, fill) = match bar.value {
                Some(value) => (plot * value as f64 / most as f64, "#1d3557".to_owned()),
                None => (plot * 0.06, format!("url(#{}-hatch)", self.id)),
            };
            let y = TOP + plot - height;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_width:.1}" height="{height:.1}" fill="{fill}"><title>{label}: {shown}</title></rect>"#,
                label = escape(&bar.label),
                shown = escape(&bar.shown),
            );
            let last = index + 1 == self.bars.len();
            let clear_of_last = self.bars.len() - 1 - index >= every;
            if last || (index % every == 0 && clear_of_last) {
                let _ = write!(
                    svg,
                    r##"<text x="{cx:.1}" y="{ty}" font-size="12" text-anchor="middle" fill="#374151">{label}</text>"##,
                    cx = (x + bar_width / 2.0).clamp(24.0, WIDTH - 24.0),
                    ty = HEIGHT - 6.0,
                    label = escape(&bar.label),
                );
            }
        }
        // The scale, from the largest number shown (never from a suppressed one).
        if self
            .bars
            .iter()
            .any(|bar| bar.value.is_some_and(|value| value > 0))
        {
            let _ = write!(
                svg,
                r##"<text x="{LEFT}" y="12" font-size="12" fill="#374151">highest: {most}</text>"##
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_a_bar_per_value_and_escapes_what_it_writes() {
        let chart = Chart {
            id: "test",
            title: "Blocked <script>".into(),
            bars: vec![
                Bar {
                    label: "Mon".into(),
                    value: Some(10),
                    shown: "10".into(),
                },
                Bar {
                    label: "Tue".into(),
                    value: None,
                    shown: "<5".into(),
                },
                Bar {
                    label: "Wed".into(),
                    value: Some(0),
                    shown: "0".into(),
                },
            ],
        };
        let svg = chart.svg();
        assert_eq!(svg.matches("<rect x=").count(), 3);
        assert!(svg.contains("Blocked &lt;script&gt;"));
        assert!(svg.contains("Tue: &lt;5"));
        assert!(svg.contains("url(#test-hatch)"), "suppressed: a stub");
        assert!(!svg.contains("<script"));
        assert!(svg.contains("highest: 10"));
    }

    #[test]
    fn a_chart_of_suppressed_numbers_gives_no_scale_away() {
        let chart = Chart {
            id: "quiet",
            title: "Alerts".into(),
            bars: vec![Bar {
                label: "Mon".into(),
                value: None,
                shown: "<5".into(),
            }],
        };
        assert!(!chart.svg().contains("highest"));
    }
}
