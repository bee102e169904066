//! Fires the EventBridge Scheduler schedules stored on the emulator, which no emulator does:
//! every second it reads the schedules of the stack's groups and invokes the target function
//! with the schedule's input (`<aws.scheduler.scheduled-time>` filled in) when an enabled
//! schedule comes due; the schedules the template declares on functions (`ScheduleV2`
//! events, such as the reaper's) fire the same way. Expressions: `cron(...)` (six
//! fields, minutes first, as EventBridge writes them), `rate(N unit)` and `at(...)`, in UTC.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::invoke::Invoker;
use crate::stack::{FunctionSpec, Stack};

#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Cron(Box<cron::Schedule>),
    Rate(chrono::Duration),
    At(DateTime<Utc>),
}

impl Expression {
    pub fn parse(text: &str) -> Result<Self, String> {
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|t| t.strip_suffix(')'))
                .map(str::trim)
        };
        if let Some(fields) = inner("cron(") {
            let parts: Vec<&str> = fields.split_whitespace().collect();
            if parts.len() != 6 {
                return Err(format!("{text}: cron needs six fields"));
            }
            // EventBridge: minutes hours day-of-month month day-of-week year; `?` means any.
            let expression = format!("0 {}", parts.join(" ").replace('?', "*"));
            return cron::Schedule::from_str(&expression)
                .map(|s| Self::Cron(Box::new(s)))
                .map_err(|e| format!("{text}: {e}"));
        }
        if let Some(rate) = inner("rate(") {
            let (value, unit) = rate
                .split_once(' ')
                .ok_or_else(|| format!("{text}: rate(N unit)"))?;
            let value: i64 = value
                .parse()
                .map_err(|_| format!("{text}: {value} is not a number"))?;
            let duration = match unit.trim_end_matches('s') {
                "minute" => chrono::Duration::minutes(value),
                "hour" => chrono::Duration::hours(value),
                "day" => chrono::Duration::days(value),
                other => return Err(format!("{text}: unknown unit {other}")),
            };
            return Ok(Self::Rate(duration));
        }
        if let Some(at) = inner("at(") {
            let time = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
                .map_err(|e| format!("{text}: {e}"))?;
            return Ok(Self::At(time.and_utc()));
        }
        Err(format!("{text}: not cron(...), rate(...) or at(...)"))
    }

    /// The first firing strictly after `after`.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        created: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron(schedule) => schedule.after(&after).next(),
            Self::Rate(every) => {
                let elapsed = after - created;
                let periods = elapsed.num_milliseconds() / every.num_milliseconds().max(1) + 1;
                Some(created + *every * i32::try_from(periods).ok()?)
            }
            Self::At(time) => (*time > after).then_some(*time),
        }
    }
}

struct Known {
    expression: String,
    next: Option<DateTime<Utc>>,
}

pub async fn run(
    scheduler: aws_sdk_scheduler::Client,
    invoker: Arc<dyn Invoker>,
    stack: Arc<Stack>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut known: HashMap<String, HashMap<String, Known>> = HashMap::new();
    let mut declared: HashMap<String, Known> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        for group in &stack.schedule_groups {
            let known = known.entry(group.clone()).or_default();
            if let Err(e) = tick(&scheduler, &invoker, &stack, group, known).await {
                tracing::warn!(group, error = %e, "schedules not read");
            }
        }
        fire_declared(&invoker, &stack, &mut declared);
    }
}

/// Fires the schedules the template declares on its functions that are due.
fn fire_declared(invoker: &Arc<dyn Invoker>, stack: &Stack, known: &mut HashMap<String, Known>) {
    let now = Utc::now();
    for function in &stack.functions {
        for schedule in &function.schedules {
            let expression = match Expression::parse(&schedule.expression) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(schedule = %schedule.name, error = %e, "schedule not understood");
                    continue;
                }
            };
            if let Some(due) = comes_due(
                known,
                &schedule.name,
                &schedule.expression,
                &expression,
                now,
            ) {
                fire(invoker, &schedule.name, function, &schedule.input, due);
            }
        }
    }
}

/// When the schedule `name` (of expression `text`) is due now: the time it was due, and it
/// moves on to its next firing.
fn comes_due(
    known: &mut HashMap<String, Known>,
    name: &str,
    text: &str,
    expression: &Expression,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let entry = known.entry(name.to_string()).or_insert_with(|| Known {
        expression: text.to_string(),
        next: expression.next_after(now, now),
    });
    if entry.expression != text {
        *entry = Known {
            expression: text.to_string(),
            next: expression.next_after(now, now),
        };
    }
    let due = entry.next.filter(|due| *due <= now)?;
    entry.next = expression.next_after(now, due);
    Some(due)
}

/// Invokes `function` with `input`, the one context attribute Ferry's schedules use filled
/// in as EventBridge does.
fn fire(
    invoker: &Arc<dyn Invoker>,
    schedule: &str,
    function: &FunctionSpec,
    input: &str,
    due: DateTime<Utc>,
) {
    let payload = input.replace(
        "<aws.scheduler.scheduled-time>",
        &due.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    tracing::info!(schedule, function = %function.binary, "schedule fired");
    let invoker = Arc::clone(invoker);
    let function = function.clone();
    tokio::spawn(async move {
        if let Err(e) = invoker.invoke(&function, payload.into()).await {
            tracing::warn!(function = %function.binary, error = %e, "scheduled invocation failed");
        }
    });
}

async fn tick(
    scheduler: &aws_sdk_scheduler::Client,
    invoker: &Arc<dyn Invoker>,
    stack: &Stack,
    group: &str,
    known: &mut HashMap<String, Known>,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let listed = scheduler
        .list_schedules()
        .group_name(group)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
    let names: Vec<String> = listed
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect();
    known.retain(|name, _| names.contains(name));
    for name in names {
        let schedule = scheduler
            .get_schedule()
            .group_name(group)
            .name(&name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_scheduler::error::DisplayErrorContext(e)))?;
        let text = schedule
            .schedule_expression()
            .unwrap_or_default()
            .to_string();
        let enabled = schedule.state().is_none_or(|s| s.as_str() == "ENABLED");
        let expression = match Expression::parse(&text) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(schedule = %name, error = %e, "schedule not understood");
                continue;
            }
        };
        let Some(due) = comes_due(known, &name, &text, &expression, now) else {
            continue;
        };
        if !enabled {
            continue;
        }
        let Some(target) = schedule.target() else {
            continue;
        };
        let Some(function) = stack.functions.iter().find(|f| f.arn == target.arn()) else {
            tracing::warn!(schedule = %name, arn = target.arn(), "target is not a local function");
            continue;
        };
        fire(
            invoker,
            &name,
            function,
            target.input().unwrap_or("{}"),
            due,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_eventbridge_expressions() {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 30).unwrap();
        let cron = Expression::parse("cron(5 * * * ? *)").expect("cron");
        assert_eq!(
            cron.next_after(base, base),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 5, 0).unwrap())
        );
        let rate = Expression::parse("rate(2 minutes)").expect("rate");
        assert_eq!(
            rate.next_after(base, base),
            Some(base + chrono::Duration::minutes(2))
        );
        let at = Expression::parse("at(2026-01-01T11:00:00)").expect("at");
        assert_eq!(
            at.next_after(base, base),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap())
        );
        assert!(Expression::parse("cron(* * *)").is_err());
        assert!(Expression::parse("every day").is_err());
    }

    #[test]
    fn a_schedule_comes_due_once_per_period_and_starts_over_when_changed() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let text = "rate(5 minutes)";
        let every = Expression::parse(text).expect("rate");
        let mut known = HashMap::new();
        let at = |minutes: i64, seconds: i64| {
            start + chrono::Duration::minutes(minutes) + chrono::Duration::seconds(seconds)
        };
        assert_eq!(comes_due(&mut known, "reaper", text, &every, start), None);
        assert_eq!(
            comes_due(&mut known, "reaper", text, &every, at(4, 59)),
            None
        );
        assert_eq!(
            comes_due(&mut known, "reaper", text, &every, at(5, 1)),
            Some(at(5, 0))
        );
        assert_eq!(
            comes_due(&mut known, "reaper", text, &every, at(5, 2)),
            None
        );
        assert_eq!(
            comes_due(&mut known, "reaper", text, &every, at(10, 0)),
            Some(at(10, 0))
        );
        let hourly = Expression::parse("rate(1 hour)").expect("rate");
        assert_eq!(
            comes_due(&mut known, "reaper", "rate(1 hour)", &hourly, at(15, 0)),
            None,
            "changed: counted from now"
        );
    }
}
