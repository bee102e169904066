//! A scheduled policy's Harbor cron as an EventBridge Scheduler expression, and keeping the
//! policy's schedule in step with the policy.

use crate::model::{ReplicationPolicy, TriggerType};
use crate::ports::schedules::{PolicySchedules, ScheduleError};

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Harbor's six-field cron (`second minute hour day-of-month month day-of-week`, days of the
/// week 0-6 from Sunday) as `cron(minute hour day-of-month month day-of-week year)`. The
/// scheduler has no seconds (Harbor's must be a fixed value; the firing is at second 0), wants
/// `?` in one of the two day fields, and numbers days of the week from 1: names avoid that.
pub fn eventbridge_cron(harbor: &str) -> Result<String, String> {
    let fields: Vec<&str> = harbor.split_whitespace().collect();
    let [_second, minute, hour, day_of_month, month, day_of_week] = fields[..] else {
        return Err(format!("{harbor:?} does not have six fields"));
    };
    let (day_of_month, day_of_week) = match (day_of_month, day_of_week) {
        (dom, "*" | "?") => (dom.to_string(), "?".to_string()),
        ("*" | "?", dow) => ("?".to_string(), day_names(dow)?),
        _ => {
            return Err(format!(
                "{harbor:?} sets both the day of the month and the day of the week, which \
                 EventBridge Scheduler cannot express; set one and leave the other `*`"
            ))
        }
    };
    Ok(format!(
        "cron({minute} {hour} {day_of_month} {month} {day_of_week} *)"
    ))
}

/// Day-of-week numbers (0-7, both 0 and 7 Sunday) as names.
fn day_names(field: &str) -> Result<String, String> {
    if field.contains('/') {
        return Err(format!(
            "day of week {field:?}: EventBridge Scheduler has no steps there; list the days"
        ));
    }
    let mut out = String::new();
    let mut number = String::new();
    let mut after_slash = false;
    let flush = |number: &mut String, out: &mut String, after_slash: bool| -> Result<(), String> {
        if number.is_empty() {
            return Ok(());
        }
        if after_slash {
            out.push_str(number);
        } else {
            let day: usize = number
                .parse()
                .map_err(|_| format!("day of week {number:?} is not a number"))?;
            let name = DAY_NAMES
                .get(day % 7)
                .filter(|_| day <= 7)
                .ok_or_else(|| format!("day of week {day} is not 0-7"))?;
            out.push_str(name);
        }
        number.clear();
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        flush(&mut number, &mut out, after_slash)?;
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut number, &mut out, after_slash)?;
    Ok(out)
}

/// The scheduler expression a policy needs, or None when it is not scheduled.
pub fn schedule_of(policy: &ReplicationPolicy) -> Result<Option<String>, String> {
    let Some(trigger) = &policy.trigger else {
        return Ok(None);
    };
    if trigger.kind != TriggerType::Scheduled {
        return Ok(None);
    }
    match trigger.cron() {
        Some(cron) => eventbridge_cron(cron).map(Some),
        None => Err("a scheduled trigger needs trigger_settings.cron".into()),
    }
}

/// Creates, changes, disables or deletes the policy's schedule to match it.
pub async fn sync_schedule(
    schedules: &dyn PolicySchedules,
    policy: &ReplicationPolicy,
) -> Result<(), ScheduleError> {
    match schedule_of(policy) {
        Ok(Some(expression)) => {
            schedules
                .put_schedule(policy.id, &expression, policy.enabled)
                .await
        }
        Ok(None) => schedules.delete_schedule(policy.id).await,
        Err(message) => Err(ScheduleError {
            policy_id: policy.id,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harbor_crons_become_eventbridge_crons() {
        assert_eq!(
            eventbridge_cron("0 */5 * * * *").as_deref(),
            Ok("cron(*/5 * * * ? *)")
        );
        assert_eq!(
            eventbridge_cron("0 0 2 * * 1-5").as_deref(),
            Ok("cron(0 2 ? * MON-FRI *)")
        );
        assert_eq!(
            eventbridge_cron("0 30 4 * * 0,6").as_deref(),
            Ok("cron(30 4 ? * SUN,SAT *)")
        );
        assert_eq!(
            eventbridge_cron("0 0 0 1 * *").as_deref(),
            Ok("cron(0 0 1 * ? *)")
        );
        assert!(eventbridge_cron("0 0 0 * * */2").is_err());
        assert!(eventbridge_cron("0 0 0 1 * 1").is_err());
        assert!(eventbridge_cron("0 0 0 * * 9").is_err());
        assert!(eventbridge_cron("0 0 * * *").is_err());
    }
}
