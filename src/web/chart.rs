//! Line charts drawn on the server as SVG: no script, and the page's
//! Content-Security-Policy can forbid every inline style and script.

use chrono::{DateTime, DurationRound, Utc};
use maud::{html, Markup, PreEscaped};
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;
const COLORS: [&str; 8] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"];

/// The start of the hour `hours - 1` hours before this one: charts and
/// summaries cover whole hours up to now.
pub(crate) fn hours_back(hours: i64) -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(chrono::TimeDelta::hours(1)).unwrap_or(now) - chrono::TimeDelta::hours(hours - 1)
}

/// One line per series over consecutive hours; `values[s][h]` is series
/// `s` in hour `hours[h]`.
pub(crate) struct HourlySeries {
    pub hours: Vec<DateTime<Utc>>,
    pub series: BTreeMap<String, Vec<u64>>,
}

impl HourlySeries {
    /// Empty hours from `since` to the current hour, for [`HourlySeries::add`].
    pub(crate) fn since(since: DateTime<Utc>, now: DateTime<Utc>) -> HourlySeries {
        let mut hours = Vec::new();
        let mut hour = since;
        while hour <= now {
            hours.push(hour);
            hour += chrono::Duration::hours(1);
        }
        HourlySeries { hours, series: BTreeMap::new() }
    }

    pub(crate) fn add(&mut self, series: &str, hour: DateTime<Utc>, calls: u64) {
        let Some(index) = self.hours.iter().position(|h| *h == hour) else { return };
        let len = self.hours.len();
        self.series.entry(series.to_string()).or_insert_with(|| vec![0; len])[index] += calls;
    }
}

pub(crate) fn line_chart(label: &str, data: &HourlySeries) -> Markup {
    if data.series.is_empty() || data.hours.len() < 2 {
        return html! { p.empty { "No calls in this period." } };
    }
    let max = data.series.values().flatten().copied().max().unwrap_or(0).max(1);
    let x = |i: usize| LEFT + (WIDTH - LEFT - 8.0) * i as f64 / (data.hours.len() - 1) as f64;
    let y = |v: u64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v as f64 / max as f64);
    let mut svg = String::new();
    let _ = write!(svg, r##"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"##, maud::html! { (label) }.into_string());
    let _ = write!(svg, r##"<line x1="{LEFT}" y1="{b}" x2="{WIDTH}" y2="{b}" stroke="#9ca3af"/>"##, b = HEIGHT - BOTTOM);
    let _ = write!(svg, r##"<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#4b5563">{max}</text>"##, LEFT - 6.0, TOP + 8.0);
    let _ = write!(svg, r##"<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#4b5563">0</text>"##, LEFT - 6.0, HEIGHT - BOTTOM);
    let last = data.hours.len() - 1;
    for (i, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="{anchor}" fill="#4b5563">{}</text>"##,
            x(i),
            HEIGHT - 6.0,
            data.hours[i].format("%b %d %H:00")
        );
    }
    for (n, values) in data.series.values().enumerate() {
        let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(svg, r##"<polyline fill="none" stroke-width="2" stroke="{}" points="{}"/>"##, COLORS[n % COLORS.len()], points.join(" "));
    }
    svg.push_str("</svg>");
    html! {
        figure.chart {
            (PreEscaped(svg))
            figcaption {
                (label) ": "
                @for (n, (name, values)) in data.series.iter().enumerate() {
                    span.legend {
                        svg width="10" height="10" { rect width="10" height="10" fill=(COLORS[n % COLORS.len()]) {} }
                        " " (name) " (" (values.iter().sum::<u64>()) ")"
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_are_escaped_and_hours_filled() {
        let now = Utc::now();
        let since = now - chrono::Duration::hours(3);
        let mut data = HourlySeries::since(since, now);
        data.add("<script>alert(1)</script>", since, 5);
        data.add("v2", since + chrono::Duration::hours(1), 2);
        data.add("v2", since - chrono::Duration::hours(9), 100);
        assert_eq!(data.series["v2"], vec![0, 2, 0, 0], "an hour outside the chart is left out");
        let html = line_chart("calls per version", &data).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; (5)"));
        assert_eq!(html.matches("<polyline").count(), 2);
    }
}
