//! The functions' IAM policies as infra/template.yaml states them, evaluated as IAM evaluates
//! identity-based policies: an explicit Deny wins, then any Allow; anything else is denied.
//! The emulators allow every call, so without this a grant missing from the template shows
//! first in AWS; the IAM guard (`iam_guard.rs`) asks these policies about every call a
//! function makes locally.
//!
//! Read: each function's inline policy documents (the `Policies` items with a `Statement`):
//! `Effect`, `Action`, `Resource` (`*`, or ARNs from `!GetAtt`, `!Sub`, `!Ref`) and
//! `Condition`; and what SAM attaches to a function with SQS events (the managed policy
//! AWSLambdaSQSQueueExecutionRole: receive, delete and queue attributes on any queue). Not
//! read: managed policies named by name, SAM policy templates and `!If` items (the template's
//! only one grants the admin secret, and Secrets Manager is not guarded).
//!
//! Conditions: only `s3:prefix` under the `String*` operators is evaluated, the one key the
//! guard takes from a request. A condition on any other key is taken as met, so a statement
//! with one allows at least what it allows in AWS: the guard may miss a denial there, but
//! never refuses what AWS would allow.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use crate::stack::function_binary;
use crate::template::{Evaluator, Kind, Resolved, StackSettings, Template, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{at}: {message}")]
    Unsupported { at: String, message: String },
}

fn unsupported(at: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::Unsupported {
        at: at.to_string(),
        message: message.into(),
    }
}

/// The condition keys the guard takes from requests; conditions on others are taken as met.
const EVALUATED_CONDITION_KEYS: &[&str] = &["s3:prefix"];

/// What a request asks IAM for: one action on one resource, with the condition keys the
/// request carries (`s3:prefix` of a listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

impl Access {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.insert(key.to_string(), value.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it (IAM's implicit deny).
    NotAllowed,
    /// A Deny statement matches.
    ExplicitlyDenied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Condition {
    operator: String,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

/// One function's role: the statements of its policies.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    /// The function's logical id in the template.
    pub function: String,
    pub function_name: String,
    /// The function's cargo binary, the app name its AWS requests carry.
    pub binary: String,
    statements: Vec<Statement>,
}

impl RolePolicy {
    pub fn decide(&self, access: &Access) -> Decision {
        let applies = |s: &&Statement| s.applies_to(access);
        let matching: Vec<&Statement> = self.statements.iter().filter(applies).collect();
        if matching.iter().any(|s| s.effect == Effect::Deny) {
            Decision::ExplicitlyDenied
        } else if matching.iter().any(|s| s.effect == Effect::Allow) {
            Decision::Allowed
        } else {
            Decision::NotAllowed
        }
    }

    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.decide(&Access::new(action, resource)) == Decision::Allowed
    }

    /// The role name SAM gives the function's role, for messages that look like AWS's.
    pub fn role_name(&self, stack_name: &str) -> String {
        format!("{stack_name}-{}Role", self.function)
    }
}

impl Statement {
    fn applies_to(&self, access: &Access) -> bool {
        let action = access.action.to_ascii_lowercase();
        self.actions
            .iter()
            .any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), &action))
            && self
                .resources
                .iter()
                .any(|pattern| wildcard_match(pattern, &access.resource))
            && self.conditions.iter().all(|c| c.met_by(access))
    }
}

impl Condition {
    fn met_by(&self, access: &Access) -> bool {
        let key = self.key.to_ascii_lowercase();
        if !EVALUATED_CONDITION_KEYS.contains(&key.as_str()) {
            return true;
        }
        let (operator, if_exists) = match self.operator.strip_suffix("IfExists") {
            Some(operator) => (operator, true),
            None => (self.operator.as_str(), false),
        };
        let negated = operator.starts_with("StringNot");
        let Some(value) = access
            .context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, v)| v)
        else {
            // As IAM: a missing key fails a condition, unless it says IfExists or negates.
            return if_exists || negated;
        };
        let any = |test: &dyn Fn(&str) -> bool| self.values.iter().any(|v| test(v));
        match operator {
            "StringEquals" => any(&|v| v == value),
            "StringNotEquals" => !any(&|v| v == value),
            "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(value)),
            "StringNotEqualsIgnoreCase" => !any(&|v| v.eq_ignore_ascii_case(value)),
            "StringLike" => any(&|v| wildcard_match(v, value)),
            "StringNotLike" => !any(&|v| wildcard_match(v, value)),
            // Another operator on an evaluated key: taken as met, like any other condition.
            _ => true,
        }
    }
}

/// IAM's wildcard match: `*` is any run of characters (`/` and `:` too), `?` any one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Every function's role policy, read from the template.
#[derive(Debug, Clone, Default)]
pub struct FunctionPolicies {
    roles: Vec<RolePolicy>,
}

impl FunctionPolicies {
    pub fn from_template(
        template: &Template,
        settings: &StackSettings,
        resolved: &Resolved,
    ) -> Result<Self, PolicyError> {
        let eval = Evaluator { settings, resolved };
        let mut roles = Vec::new();
        for decl in template.resources() {
            if decl.kind != Kind::Function {
                continue;
            }
            let id = &decl.logical_id;
            let Some(binary) = function_binary(&decl) else {
                return Err(unsupported(
                    id,
                    "Metadata.BuildProperties.Binary is required",
                ));
            };
            let function_name = resolved.refs.get(id).cloned().unwrap_or_else(|| id.clone());
            let mut statements = Vec::new();
            if let Some(Value::Sequence(policies)) = decl.properties.get("Policies") {
                for (n, policy) in policies.iter().enumerate() {
                    let at = format!("{id}.Policies[{n}]");
                    match policy.get("Statement") {
                        Some(Value::Sequence(items)) => {
                            for (i, item) in items.iter().enumerate() {
                                statements.push(statement(&eval, item, &format!("{at}[{i}]"))?);
                            }
                        }
                        Some(item) => statements.push(statement(&eval, item, &at)?),
                        None => {
                            tracing::debug!(at, "not an inline policy document; not checked")
                        }
                    }
                }
            }
            if has_sqs_events(&decl.properties) {
                statements.push(sam_sqs_execution_role());
            }
            roles.push(RolePolicy {
                function: id.clone(),
                function_name,
                binary: binary.to_string(),
                statements,
            });
        }
        Ok(Self { roles })
    }

    /// The role of the function built as `binary` (`ferry-transfer`).
    pub fn for_binary(&self, binary: &str) -> Option<&RolePolicy> {
        self.roles.iter().find(|r| r.binary == binary)
    }

    /// The role of the function with this logical id (`TransferFunction`).
    pub fn for_function(&self, logical_id: &str) -> Option<&RolePolicy> {
        self.roles.iter().find(|r| r.function == logical_id)
    }
}

fn has_sqs_events(properties: &Mapping) -> bool {
    match properties.get("Events") {
        Some(Value::Mapping(events)) => events
            .values()
            .any(|e| e.get("Type").and_then(Value::as_str) == Some("SQS")),
        _ => false,
    }
}

/// AWSLambdaSQSQueueExecutionRole, which SAM attaches to a function with an SQS event.
fn sam_sqs_execution_role() -> Statement {
    Statement {
        effect: Effect::Allow,
        actions: [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ]
        .map(String::from)
        .to_vec(),
        resources: vec!["*".into()],
        conditions: Vec::new(),
    }
}

/// A string, an intrinsic, or a list of them.
fn strings(eval: &Evaluator<'_>, value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(|v| eval.string(v, at).map_err(PolicyError::from))
            .collect(),
        other => Ok(vec![eval.string(other, at)?]),
    }
}

fn statement(eval: &Evaluator<'_>, item: &Value, at: &str) -> Result<Statement, PolicyError> {
    for key in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
        if item.get(key).is_some() {
            return Err(unsupported(at, format!("{key} is not evaluated locally")));
        }
    }
    let effect = match item.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(unsupported(at, format!("Effect {other:?}"))),
    };
    let required = |key: &str| {
        item.get(key)
            .ok_or_else(|| unsupported(at, format!("{key} is required")))
    };
    let actions = strings(eval, required("Action")?, &format!("{at}.Action"))?;
    let resources = strings(eval, required("Resource")?, &format!("{at}.Resource"))?;
    let mut conditions = Vec::new();
    if let Some(condition) = item.get("Condition") {
        let Value::Mapping(operators) = condition else {
            return Err(unsupported(at, "Condition must be a mapping"));
        };
        for (operator, keys) in operators {
            let operator = operator.as_str().unwrap_or_default().to_string();
            let Value::Mapping(keys) = keys else {
                return Err(unsupported(at, format!("Condition.{operator}")));
            };
            for (key, values) in keys {
                let key = key.as_str().unwrap_or_default().to_string();
                let values = strings(eval, values, &format!("{at}.Condition.{operator}.{key}"))?;
                conditions.push(Condition {
                    operator: operator.clone(),
                    key,
                    values,
                });
            }
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::resolve_names;

    const REGION: &str = "us-east-1";
    const ACCOUNT: &str = "123456789012";

    fn policies() -> FunctionPolicies {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let template = Template::load(&path).expect("template");
        let settings = StackSettings {
            stack_name: "s".into(),
            region: REGION.into(),
            account: ACCOUNT.into(),
            parameters: template.parameter_defaults(),
        };
        let (mut resolved, _) = resolve_names(&template.resources(), &settings).expect("names");
        // Made by the emulator in a real bootstrap.
        resolved.attributes.insert(
            ("SecretsKey".into(), "Arn".into()),
            format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"),
        );
        FunctionPolicies::from_template(&template, &settings, &resolved).expect("policies")
    }

    fn table(name: &str) -> String {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/s-{name}")
    }

    fn role<'a>(policies: &'a FunctionPolicies, binary: &str) -> &'a RolePolicy {
        policies.for_binary(binary).expect(binary)
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard_match("*", "arn:aws:s3:::b/k"));
        assert!(wildcard_match(
            "arn:aws:s3:::b/tasks/*",
            "arn:aws:s3:::b/tasks/1/2/x"
        ));
        assert!(!wildcard_match(
            "arn:aws:s3:::b/tasks/*",
            "arn:aws:s3:::b/other"
        ));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*x*y", "axxbxy"));
        assert!(!wildcard_match("table/t", "table/t/index/i"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
    }

    #[test]
    fn the_templates_grants_are_what_its_functions_may_do() {
        let policies = policies();
        let transfer = role(&policies, "ferry-transfer");
        assert_eq!(transfer.function, "TransferFunction");
        assert!(transfer.allows("dynamodb:BatchWriteItem", &table("meta")));
        // Action names are case-insensitive.
        assert!(transfer.allows("DynamoDB:batchwriteitem", &table("meta")));
        assert!(!transfer.allows("dynamodb:BatchWriteItem", &table("tasks")));
        assert!(!transfer.allows("dynamodb:PutItem", &table("tasks")));

        let api = role(&policies, "ferry-api");
        assert!(api.allows("dynamodb:PutItem", &table("executions")));
        assert!(!api.allows("dynamodb:DeleteItem", &table("executions")));

        let lister = role(&policies, "ferry-lister");
        assert!(lister.allows(
            "dynamodb:Query",
            &format!("{}/index/by_policy", table("executions"))
        ));
        // An index's ARN is not its table's, nor the other way round.
        assert!(!lister.allows(
            "dynamodb:Query",
            &format!("{}/index/by_list", table("registries"))
        ));
    }

    #[test]
    fn task_logs_are_written_only_under_tasks() {
        let policies = policies();
        let transfer = role(&policies, "ferry-transfer");
        let bucket = format!("arn:aws:s3:::s-task-logs-{ACCOUNT}-{REGION}");
        assert!(transfer.allows("s3:PutObject", &format!("{bucket}/tasks/1/2/entry")));
        assert!(!transfer.allows("s3:PutObject", &format!("{bucket}/other")));
        assert!(!transfer.allows("s3:PutObject", &format!("{bucket}x/tasks/1")));
        // Listing: the prefix condition is evaluated.
        let list = Access::new("s3:ListBucket", &bucket);
        assert_eq!(
            transfer.decide(&list.clone().with("s3:prefix", "tasks/1/")),
            Decision::Allowed
        );
        assert_eq!(
            transfer.decide(&list.clone().with("s3:prefix", "elsewhere/")),
            Decision::NotAllowed
        );
        assert_eq!(transfer.decide(&list), Decision::NotAllowed);
    }

    #[test]
    fn sam_lets_sqs_consumers_receive_and_delete() {
        let policies = policies();
        let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:s-transfer");
        assert!(role(&policies, "ferry-transfer").allows("sqs:DeleteMessage", &queue));
        assert!(role(&policies, "ferry-transfer").allows("sqs:SendMessage", &queue));
        // The api consumes no queue.
        assert!(!role(&policies, "ferry-api").allows("sqs:DeleteMessage", &queue));
        assert!(!role(&policies, "ferry-api").allows("sqs:GetQueueAttributes", &queue));
        assert!(role(&policies, "ferry-trigger").allows("sqs:GetQueueAttributes", &queue));
    }

    #[test]
    fn an_explicit_deny_wins_and_other_conditions_are_taken_as_met() {
        let template = Template::parse(
            r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: ferry-f
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: "dynamodb:*"
              Resource: "*"
            - Effect: Deny
              Action: dynamodb:DeleteItem
              Resource: arn:aws:dynamodb:r:1:table/keep
            - Effect: Allow
              Action: iam:PassRole
              Resource: arn:aws:iam::1:role/x
              Condition:
                StringEquals:
                  iam:PassedToService: scheduler.amazonaws.com
        - SQSPollerPolicy:
            QueueName: q
"#,
        )
        .expect("yaml");
        let settings = StackSettings {
            stack_name: "s".into(),
            region: "r".into(),
            account: "1".into(),
            parameters: Default::default(),
        };
        let policies = FunctionPolicies::from_template(&template, &settings, &Resolved::default())
            .expect("policies");
        let f = policies.for_function("F").expect("F");
        assert_eq!(f.binary, "ferry-f");
        assert!(f.allows("dynamodb:DeleteItem", "arn:aws:dynamodb:r:1:table/other"));
        assert_eq!(
            f.decide(&Access::new(
                "dynamodb:DeleteItem",
                "arn:aws:dynamodb:r:1:table/keep"
            )),
            Decision::ExplicitlyDenied
        );
        assert!(f.allows("iam:PassRole", "arn:aws:iam::1:role/x"));
        assert!(!f.allows("sqs:ReceiveMessage", "arn:aws:sqs:r:1:q"));
    }
}
