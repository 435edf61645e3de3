//! Blueprint schedules (DESIGN §7 `[run] schedule`): a cron expression in
//! the 5-field form (`MIN HOUR DOM MONTH DOW`) or AWS's 6-field `cron(MIN
//! HOUR DOM MONTH DOW YEAR)` form, always in UTC.
//!
//! Fields take `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`,
//! and comma-separated lists of these; months and weekdays also take names
//! (`JAN`, `MON`). In the 5-field form weekdays are 0–7 (0 and 7 are Sunday)
//! and, as in Vixie cron, a day matches if either day field matches when
//! both are restricted. In the AWS form weekdays are 1–7 (1 is Sunday),
//! exactly one of the two day fields is `?`, and the year is `*` or
//! 1970–2199. AWS's `L`, `W` and `#` are refused with a message saying so,
//! never approximated.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

/// A parse error: what is wrong, in words a blueprint author can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{expr}`: {why}")]
pub struct CronError {
    expr: String,
    why: String,
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_any: bool,
    weekdays_any: bool,
    years: Option<(i32, i32, Vec<bool>)>,
    text: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// AWS's last-day (`L`, `5L`, `LW`), nearest-weekday (`15W`) and
/// nth-weekday (`6#3`) forms.
fn aws_special(part: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let up = part.to_ascii_uppercase();
    up == "L"
        || up == "LW"
        || up.contains('#')
        || up.strip_suffix('L').is_some_and(digits)
        || up.strip_suffix('W').is_some_and(digits)
}

/// One field: its range and, for months and weekdays, its names.
struct Field {
    lo: u32,
    hi: u32,
    names: &'static [&'static str],
    /// The value the first name stands for.
    name_base: u32,
}

impl Field {
    fn value(&self, s: &str) -> Option<u32> {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return s
                .parse::<u32>()
                .ok()
                .filter(|v| (self.lo..=self.hi).contains(v));
        }
        let up = s.to_ascii_uppercase();
        self.names
            .iter()
            .position(|n| *n == up)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + self.name_base)
    }

    /// Parses a field into the set of values it allows; `None` for `*`.
    fn parse(&self, s: &str) -> Result<Option<Vec<u32>>, String> {
        if s == "*" {
            return Ok(None);
        }
        let mut out = Vec::new();
        for part in s.split(',') {
            if aws_special(part) {
                return Err(format!(
                    "`{part}` uses L, W or #, which lakegate does not support; list the days \
                     explicitly"
                ));
            }
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => {
                    let digits = !st.is_empty() && st.chars().all(|c| c.is_ascii_digit());
                    let st: u32 = Some(st)
                        .filter(|_| digits)
                        .and_then(|s| s.parse().ok())
                        .filter(|v| *v > 0)
                        .ok_or_else(|| {
                            format!("`{part}` has a step that is not a positive number")
                        })?;
                    (r, st)
                }
                None => (part, 1),
            };
            let (a, b) = if range == "*" {
                (self.lo, self.hi)
            } else if let Some((a, b)) = range.split_once('-') {
                let a = self.value(a).ok_or_else(|| self.bad(part))?;
                let b = self.value(b).ok_or_else(|| self.bad(part))?;
                if a > b {
                    return Err(format!("`{part}` is a range that ends before it starts"));
                }
                (a, b)
            } else {
                let a = self.value(range).ok_or_else(|| self.bad(part))?;
                // `a/n` runs from a to the end of the field.
                (a, if part.contains('/') { self.hi } else { a })
            };
            out.extend((a..=b).step_by(usize::try_from(step).unwrap_or(usize::MAX)));
        }
        Ok(Some(out))
    }

    fn bad(&self, part: &str) -> String {
        format!(
            "`{part}` is not a value from {} to {}{}",
            self.lo,
            self.hi,
            if self.names.is_empty() {
                String::new()
            } else {
                format!(" or one of {}", self.names.join(", "))
            }
        )
    }
}

fn mask<T: Default + std::ops::BitOrAssign + From<u8> + std::ops::Shl<u32, Output = T>>(
    values: &Option<Vec<u32>>,
    lo: u32,
    hi: u32,
) -> T {
    let mut m = T::default();
    let all: Vec<u32> = (lo..=hi).collect();
    for v in values.as_ref().unwrap_or(&all) {
        m |= T::from(1u8) << *v;
    }
    m
}

impl Schedule {
    /// Parses a 5-field expression or an AWS `cron(…)` expression.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let err = |why: String| CronError {
            expr: expr.chars().take(200).collect(),
            why,
        };
        let t = expr.trim();
        let (aws, body) = match t.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            Some(b) => (true, b),
            None if t.starts_with("rate(") => {
                return Err(err(
                    "rate(…) expressions are not supported; write a cron expression".into(),
                ));
            }
            None => (false, t),
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        let want = if aws { 6 } else { 5 };
        if fields.len() != want {
            return Err(err(if aws {
                format!(
                    "has {} fields inside cron(…); AWS's form has 6: `cron(MIN HOUR DAY MONTH \
                     WEEKDAY YEAR)`, e.g. `cron(0 */6 * * ? *)`",
                    fields.len()
                )
            } else {
                format!(
                    "has {} fields; write 5 (`MIN HOUR DAY MONTH WEEKDAY`, e.g. `0 */6 * * *`) \
                     or AWS's 6 in `cron(…)` (`cron(0 */6 * * ? *)`)",
                    fields.len()
                )
            }));
        }
        let f = |i: usize| fields.get(i).copied().unwrap_or("*");
        let minute = Field {
            lo: 0,
            hi: 59,
            names: &[],
            name_base: 0,
        };
        let hour = Field {
            lo: 0,
            hi: 23,
            names: &[],
            name_base: 0,
        };
        let dom = Field {
            lo: 1,
            hi: 31,
            names: &[],
            name_base: 0,
        };
        let month = Field {
            lo: 1,
            hi: 12,
            names: &MONTHS,
            name_base: 1,
        };
        let dow = if aws {
            Field {
                lo: 1,
                hi: 7,
                names: &DAYS,
                name_base: 1,
            }
        } else {
            Field {
                lo: 0,
                hi: 7,
                names: &DAYS,
                name_base: 0,
            }
        };
        let q = |s: &str| s == "?";
        if aws && q(f(2)) == q(f(4)) {
            return Err(err(
                "in cron(…) exactly one of the day-of-month and day-of-week fields must be `?`"
                    .into(),
            ));
        }
        if !aws && (q(f(2)) || q(f(4))) {
            return Err(err(
                "`?` is only for AWS's cron(…) form; write `*` in the 5-field form".into(),
            ));
        }
        let minutes = minute.parse(f(0)).map_err(&err)?;
        let hours = hour.parse(f(1)).map_err(&err)?;
        let days = if q(f(2)) {
            None
        } else {
            dom.parse(f(2)).map_err(&err)?
        };
        let months = month.parse(f(3)).map_err(&err)?;
        let mut weekdays = if q(f(4)) {
            None
        } else {
            dow.parse(f(4)).map_err(&err)?
        };
        if let Some(ws) = weekdays.as_mut() {
            for w in ws.iter_mut() {
                // AWS counts Sunday as 1; Vixie cron allows 7 for Sunday.
                *w = if aws { *w - 1 } else { *w % 7 };
            }
        }
        let years = if aws && f(5) != "*" {
            let year = Field {
                lo: 1970,
                hi: 2199,
                names: &[],
                name_base: 0,
            };
            let ys = year.parse(f(5)).map_err(&err)?.unwrap_or_default();
            let mut set = vec![false; 230];
            for y in ys {
                if let Some(slot) = set.get_mut((y - 1970) as usize) {
                    *slot = true;
                }
            }
            Some((1970, 2199, set))
        } else {
            None
        };
        // A day of the month that no allowed month has (31 February), with
        // the weekday unrestricted, never falls due: refused here rather
        // than never run.
        let month_days = [31u32, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if let Some(ds) = &days
            && weekdays.is_none()
        {
            let allowed: Vec<u32> = months.clone().unwrap_or_else(|| (1..=12).collect());
            let possible = allowed.iter().any(|m| {
                month_days
                    .get((*m as usize).saturating_sub(1))
                    .is_some_and(|max| ds.iter().any(|d| d <= max))
            });
            if !possible {
                return Err(err(
                    "never falls due: no allowed month has that day of the month".into(),
                ));
            }
        }
        Ok(Self {
            minutes: mask(&minutes, 0, 59),
            hours: mask(&hours, 0, 23),
            days: mask(&days, 1, 31),
            months: mask(&months, 1, 12),
            weekdays: mask(&weekdays, 0, 6),
            // As in Vixie cron, a day field starting with `*` (`*/2`) does
            // not restrict the day: the other day field alone decides.
            days_any: days.is_none() || f(2).starts_with('*'),
            weekdays_any: weekdays.is_none() || f(4).starts_with('*'),
            years,
            text: t.to_string(),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        if let Some((lo, _, set)) = &self.years
            && !usize::try_from(d.year() - lo)
                .ok()
                .and_then(|i| set.get(i))
                .copied()
                .unwrap_or(false)
        {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first instant strictly after `t` (to the minute) the schedule
    /// falls due, within the next ten years; `None` if there is none (say,
    /// 31 February, or only past years).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = t + Duration::minutes(1);
        let mut day = start.date_naive();
        for _ in 0..(366 * 10) {
            if self.day_matches(day) {
                let from = if day == start.date_naive() {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                for h in from.0..24 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    let m0 = if h == from.0 { from.1 } else { 0 };
                    for m in m0..60 {
                        if self.minutes & (1u64 << m) != 0 {
                            let naive = day.and_hms_opt(h, m, 0)?;
                            return Utc.from_local_datetime(&naive).single();
                        }
                    }
                }
            }
            day = day.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, after: &str) -> String {
        Schedule::parse(expr)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn the_five_field_form() {
        assert_eq!(
            next("0 */6 * * *", "2026-12-02T13:36:00Z"),
            "2026-12-02T18:00:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-12-02T13:45:00Z"),
            "2026-12-02T14:00:00+00:00"
        );
        assert_eq!(
            next("30 2 1 JAN *", "2026-12-02T00:00:00Z"),
            "2027-01-01T02:30:00+00:00"
        );
        // Sunday as 0 and as 7; both day fields restricted: either matches.
        assert_eq!(
            next("0 0 * * 0", "2026-12-02T00:00:00Z"),
            "2026-12-06T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-02T00:00:00Z"),
            "2026-12-06T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 15 * MON", "2026-12-02T00:00:00Z"),
            "2026-12-07T00:00:00+00:00"
        );
        assert_eq!(
            next("5-10/5 1 * * *", "2026-12-02T01:05:00Z"),
            "2026-12-02T01:10:00+00:00"
        );
    }

    #[test]
    fn the_aws_form() {
        assert_eq!(
            next("cron(0 */6 * * ? *)", "2026-12-02T13:36:00Z"),
            "2026-12-02T18:00:00+00:00"
        );
        // AWS weekdays: 1 is Sunday, 2 Monday.
        assert_eq!(
            next("cron(0 12 ? * 2 *)", "2026-12-02T00:00:00Z"),
            "2026-12-07T12:00:00+00:00"
        );
        assert_eq!(
            next("cron(0 0 1 1 ? 2028)", "2026-12-02T00:00:00Z"),
            "2028-01-01T00:00:00+00:00"
        );
        assert!(
            Schedule::parse("cron(0 0 1 1 ? 1999)")
                .unwrap()
                .next_after(at("2026-12-02T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expr, says) in [
            ("0 */6 * *", "has 4 fields"),
            ("cron(0 */6 * * * *)", "exactly one of"),
            ("cron(0 */6 ? * ? *)", "exactly one of"),
            ("0 0 ? * *", "only for AWS"),
            ("61 * * * *", "not a value from 0 to 59"),
            ("*/0 * * * *", "positive number"),
            ("5-1 * * * *", "ends before it starts"),
            ("cron(0 0 L * ? *)", "L, W or #"),
            ("cron(0 0 ? * 6#3 *)", "L, W or #"),
            ("rate(5 minutes)", "not supported"),
            ("0 0 * FOO *", "JAN"),
            ("+5 * * * *", "not a value"),
            ("*/+5 * * * *", "positive number"),
            ("cron(0 12 * * ?)", "AWS's form has 6"),
            ("0 0 30 2 *", "never falls due"),
            ("0 0 31 4,6,9,11 *", "never falls due"),
        ] {
            let e = Schedule::parse(expr).unwrap_err().to_string();
            assert!(e.contains(says), "{expr}: {e}");
        }
    }

    #[test]
    fn a_huge_step_is_one_value() {
        assert_eq!(
            next("1/4294967295 * * * *", "2026-12-02T00:00:00Z"),
            "2026-12-02T00:01:00+00:00"
        );
    }

    #[test]
    fn a_star_step_day_field_does_not_restrict_the_day_as_in_vixie_cron() {
        // `*/2` days with Mondays: every Monday, odd day or not.
        assert_eq!(
            next("0 0 */2 * MON", "2026-12-02T00:00:00Z"),
            "2026-12-07T00:00:00+00:00"
        );
    }
}
