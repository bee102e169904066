//! A policy's `prepare_replication` handlers (seed 000): URLs Ferry calls before an execution
//! writes any task, with the destination registry's own credential, so the destination can
//! prepare (create a project, check a quota) or refuse. Unlike a notification, a handler is part
//! of the replication: an answer in its abort codes ends the execution Failed.

use serde::{Deserialize, Serialize};

use super::policy::{ReplicationPolicy, TriggerType};
use super::validation::{Validated, ValidationError};

/// The one event handlers are called for, as the seed names it.
pub const PREPARE_REPLICATION: &str = "prepare_replication";
/// Handlers a policy may have.
pub const MAX_HANDLERS: usize = 10;
/// Attempts of a call whose answer is neither a 2xx nor an abort code.
pub const HANDLER_ATTEMPTS: usize = 3;

/// One handler, with the seed's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ReplicationHandler {
    /// Unique within its policy, given by Ferry.
    pub id: i64,
    /// `prepare_replication`, the only event so far.
    pub events: String,
    /// A path on the destination registry (`/v2/manage/namespaces`), or an absolute http(s)
    /// URL; the registry's credential goes only to its own origin.
    pub handler_url: String,
    /// Answers that abort the replication.
    pub abort_code: Vec<u16>,
}

impl ReplicationHandler {
    /// Checks a handler given through the API, naming the field that does not fit.
    pub fn validate(&self) -> Validated {
        if self.events != PREPARE_REPLICATION {
            return Err(ValidationError::new(
                "events",
                format!("must be {PREPARE_REPLICATION}, the only event handlers are called for"),
            ));
        }
        validate_handler_url(&self.handler_url)?;
        for (i, code) in self.abort_code.iter().enumerate() {
            let field = format!("abort_code[{i}]");
            if !(100..=599).contains(code) {
                return Err(ValidationError::new(
                    field,
                    "must be an HTTP status, 100 to 599",
                ));
            }
            if (200..300).contains(code) {
                return Err(ValidationError::new(
                    field,
                    "must not be a 2xx: a 2xx answer lets the replication go on",
                ));
            }
            if self.abort_code[..i].contains(code) {
                return Err(ValidationError::new(
                    field,
                    format!("{code} is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// What an answer with `status` means for the replication.
    pub fn verdict(&self, status: u16) -> Verdict {
        if (200..300).contains(&status) {
            Verdict::Proceed
        } else if self.abort_code.contains(&status) {
            Verdict::Abort
        } else {
            Verdict::TryAgain
        }
    }
}

/// What a handler's answer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    Abort,
    /// Neither: asked again, up to [`HANDLER_ATTEMPTS`], then the execution fails.
    TryAgain,
}

fn validate_handler_url(url: &str) -> Validated {
    let field = "handler_url";
    if url.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if url.len() > 2048 {
        return Err(ValidationError::new(
            field,
            "must be at most 2048 characters",
        ));
    }
    if let Some(path) = url.strip_prefix('/') {
        // A path on the destination: no other origin (`//host`), no way out of it.
        let parsed = url::Url::parse("http://destination.invalid/")
            .and_then(|base| base.join(url))
            .map_err(|e| ValidationError::new(field, format!("is not a valid path: {e}")))?;
        if path.starts_with('/')
            || path
                .split(['/', '?'])
                .next()
                .is_some_and(|first| first.contains(':'))
            || path.split(['/', '?']).any(|c| c == ".." || c == ".")
            || parsed.host_str() != Some("destination.invalid")
            || url
                .chars()
                .any(|c| c.is_whitespace() || c == '\\' || c == '#')
        {
            return Err(ValidationError::new(
                field,
                "must be a plain path on the destination registry (no //, .., \\, # or spaces) or an absolute http(s) URL",
            ));
        }
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| {
        ValidationError::new(
            field,
            format!("must be a path starting with / or an absolute http(s) URL: {e}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ValidationError::new(field, "must be an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValidationError::new(
            field,
            "must not carry credentials: Ferry sends the destination's own",
        ));
    }
    Ok(())
}

/// The trigger as the seed's body names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandlerTrigger {
    pub kind: &'static str,
    pub schedule_param: Option<serde_json::Value>,
}

/// One repository the execution is known to replicate before it lists (an event's, or a
/// policy's literal name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandlerRepository {
    pub source: String,
    pub target: String,
}

/// The body posted to a handler: the seed's fields (with its string `target_project_public`),
/// then Ferry's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrepareReplication {
    pub events: &'static str,
    pub replicate_policy_name: String,
    pub source_project: String,
    pub target_project: String,
    /// `"true"` or `"false"`, a string as the seed has it.
    pub target_project_public: String,
    pub replicate_deletion: bool,
    pub trigger: HandlerTrigger,
    pub policy_id: i64,
    pub execution_id: i64,
    /// What the execution replicates when it is known before listing; empty when the
    /// listing decides.
    pub repositories: Vec<HandlerRepository>,
}

impl PrepareReplication {
    /// The body for an execution of `policy` started by `trigger`; `source_namespace` is the
    /// namespace the policy's filters select (empty: the whole source), `repositories` the
    /// source repositories known before listing.
    pub fn of(
        policy: &ReplicationPolicy,
        execution_id: i64,
        trigger: TriggerType,
        source_namespace: Option<&str>,
        repositories: &[String],
    ) -> Result<Self, String> {
        let source_project = source_namespace.unwrap_or_default().to_string();
        let target_project = target_namespace(policy, &source_project);
        let repositories = repositories
            .iter()
            .map(|source| {
                Ok(HandlerRepository {
                    target: policy.destination_of(source)?.to_string(),
                    source: source.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            events: PREPARE_REPLICATION,
            replicate_policy_name: policy.name.clone(),
            source_project,
            target_project,
            target_project_public: policy.target_project_public.to_string(),
            replicate_deletion: policy.replicates_deletion(),
            trigger: HandlerTrigger {
                kind: match trigger {
                    TriggerType::Manual => "Manual",
                    TriggerType::Scheduled => "Scheduled",
                    TriggerType::EventBased => "EventBased",
                },
                // The cron only for a scheduled firing: a manual run of a scheduled policy
                // is no schedule's.
                schedule_param: policy
                    .trigger
                    .as_ref()
                    .filter(|_| trigger == TriggerType::Scheduled)
                    .and_then(|t| t.cron())
                    .map(|cron| serde_json::json!({"cron": cron})),
            },
            policy_id: policy.id,
            execution_id,
            repositories,
        })
    }
}

/// Where the source namespace goes at the destination: the policy's `dest_namespace` when it
/// has one (the seed's target project), else the first component the naming rules leave of a
/// repository in the source namespace (itself, unless `dest_namespace_replace_count` strips it).
fn target_namespace(policy: &ReplicationPolicy, source_namespace: &str) -> String {
    if !policy.dest_namespace.is_empty() || source_namespace.is_empty() {
        return policy.dest_namespace.clone();
    }
    let probe = format!("{source_namespace}/repository");
    match super::naming::destination_repository("", policy.dest_namespace_replace_count, &probe) {
        Ok(name) => name
            .split_once('/')
            .map(|(first, _)| first.to_string())
            .unwrap_or_default(),
        Err(_) => source_namespace.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(url: &str, codes: &[u16]) -> ReplicationHandler {
        ReplicationHandler {
            id: 1,
            events: PREPARE_REPLICATION.into(),
            handler_url: url.into(),
            abort_code: codes.to_vec(),
        }
    }

    fn field(h: &ReplicationHandler) -> Option<String> {
        h.validate().err().map(|e| e.field)
    }

    #[test]
    fn handlers_are_validated_field_by_field() {
        assert_eq!(
            field(&handler("/v2/manage/namespaces", &[404, 403, 500])),
            None
        );
        assert_eq!(
            field(&handler("https://prep.example.com/hook?x=1", &[])),
            None
        );
        for bad in [
            "",
            "//evil.example.com/x",
            "/a/../b",
            "/a b",
            "ftp://x/y",
            "https://user:pw@x/y",
            "relative/path",
            "/a\\b",
            "/https://evil.example.com/x",
        ] {
            assert_eq!(
                field(&handler(bad, &[])).as_deref(),
                Some("handler_url"),
                "{bad:?}"
            );
        }
        assert_eq!(
            field(&handler("/x", &[404, 99])).as_deref(),
            Some("abort_code[1]")
        );
        assert_eq!(
            field(&handler("/x", &[201])).as_deref(),
            Some("abort_code[0]")
        );
        assert_eq!(
            field(&handler("/x", &[404, 404])).as_deref(),
            Some("abort_code[1]")
        );
        let other = ReplicationHandler {
            events: "after_replication".into(),
            ..handler("/x", &[])
        };
        assert_eq!(field(&other).as_deref(), Some("events"));
    }

    #[test]
    fn an_answer_proceeds_aborts_or_is_asked_again() {
        let h = handler("/x", &[404, 403, 500]);
        assert_eq!(h.verdict(200), Verdict::Proceed);
        assert_eq!(h.verdict(204), Verdict::Proceed);
        assert_eq!(h.verdict(403), Verdict::Abort);
        assert_eq!(h.verdict(500), Verdict::Abort);
        assert_eq!(h.verdict(503), Verdict::TryAgain);
        assert_eq!(h.verdict(401), Verdict::TryAgain);
    }

    #[test]
    fn the_body_has_the_seeds_fields_and_ferrys() {
        let policy = ReplicationPolicy {
            id: 7,
            name: "yl-test".into(),
            dest_namespace: "cloud-team".into(),
            target_project_public: false,
            ..ReplicationPolicy::default()
        };
        let body = PrepareReplication::of(
            &policy,
            42,
            TriggerType::Manual,
            Some("test_project"),
            &["test_project/app".to_string()],
        )
        .expect("body");
        let json = serde_json::to_value(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "events": "prepare_replication",
                "replicate_policy_name": "yl-test",
                "source_project": "test_project",
                "target_project": "cloud-team",
                "target_project_public": "false",
                "replicate_deletion": false,
                "trigger": {"kind": "Manual", "schedule_param": null},
                "policy_id": 7,
                "execution_id": 42,
                "repositories": [{"source": "test_project/app", "target": "cloud-team/app"}],
            })
        );
        let same = ReplicationPolicy {
            dest_namespace: String::new(),
            ..policy
        };
        let body = PrepareReplication::of(&same, 1, TriggerType::Scheduled, Some("ns"), &[])
            .expect("body");
        assert_eq!(body.target_project, "ns");
        assert_eq!(body.trigger.kind, "Scheduled");
        // Stripping the namespace (replace count 1 into no namespace): no target project.
        let stripped = ReplicationPolicy {
            dest_namespace_replace_count: 1,
            ..same.clone()
        };
        let body = PrepareReplication::of(&stripped, 1, TriggerType::Manual, Some("ns"), &[])
            .expect("body");
        assert_eq!(body.target_project, "");
        // The cron goes with a scheduled firing only, not with a manual run of the policy.
        let scheduled = ReplicationPolicy {
            trigger: Some(crate::model::Trigger {
                kind: TriggerType::Scheduled,
                trigger_settings: Some(crate::model::TriggerSettings {
                    cron: "0 0 3 * * *".into(),
                }),
            }),
            ..same
        };
        let fired = PrepareReplication::of(&scheduled, 1, TriggerType::Scheduled, Some("ns"), &[])
            .expect("body");
        assert_eq!(
            fired.trigger.schedule_param,
            Some(serde_json::json!({"cron": "0 0 3 * * *"}))
        );
        let manual = PrepareReplication::of(&scheduled, 1, TriggerType::Manual, Some("ns"), &[])
            .expect("body");
        assert_eq!(manual.trigger.schedule_param, None);
    }
}
