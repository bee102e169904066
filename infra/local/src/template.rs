//! Reads infra/template.yaml: the resources to create locally and the functions with their
//! environment and event sources. The template is the one source of truth; nothing here lists
//! a table, a queue or a variable by name.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("reading {path}: {message}")]
    Read { path: String, message: String },
    #[error("{at}: {message}")]
    Unsupported { at: String, message: String },
}

fn unsupported(at: &str, message: impl Into<String>) -> TemplateError {
    TemplateError::Unsupported {
        at: at.to_string(),
        message: message.into(),
    }
}

/// The pseudo parameters and parameter values a template is evaluated with.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub stack_name: String,
    pub region: String,
    pub account: String,
    pub parameters: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Table,
    Queue,
    Bucket,
    KmsKey,
    ScheduleGroup,
    Role,
    Function,
    Other(String),
}

impl Kind {
    fn of(type_name: &str) -> Self {
        match type_name {
            "AWS::DynamoDB::Table" => Self::Table,
            "AWS::SQS::Queue" => Self::Queue,
            "AWS::S3::Bucket" => Self::Bucket,
            "AWS::KMS::Key" => Self::KmsKey,
            "AWS::Scheduler::ScheduleGroup" => Self::ScheduleGroup,
            "AWS::IAM::Role" => Self::Role,
            "AWS::Serverless::Function" => Self::Function,
            other => Self::Other(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub logical_id: String,
    pub kind: Kind,
    pub properties: Mapping,
    pub metadata: Mapping,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn parse(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        Ok(Self {
            root: serde_yaml_ng::from_str(text)?,
        })
    }

    pub fn parameter_defaults(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if let Some(Value::Mapping(params)) = self.root.get("Parameters") {
            for (name, decl) in params {
                if let (Some(name), Some(default)) = (name.as_str(), decl.get("Default")) {
                    out.insert(name.to_string(), scalar(default).unwrap_or_default());
                }
            }
        }
        out
    }

    pub fn resources(&self) -> Vec<ResourceDecl> {
        let mut out = Vec::new();
        if let Some(Value::Mapping(resources)) = self.root.get("Resources") {
            for (id, decl) in resources {
                let Some(id) = id.as_str() else { continue };
                let type_name = decl.get("Type").and_then(Value::as_str).unwrap_or_default();
                let mapping = |key: &str| match decl.get(key) {
                    Some(Value::Mapping(m)) => m.clone(),
                    _ => Mapping::new(),
                };
                out.push(ResourceDecl {
                    logical_id: id.to_string(),
                    kind: Kind::of(type_name),
                    properties: mapping("Properties"),
                    metadata: mapping("Metadata"),
                });
            }
        }
        out
    }

    /// `Globals.Function.<key>`.
    pub fn function_global(&self, key: &str) -> Option<&Value> {
        self.root.get("Globals")?.get("Function")?.get(key)
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Values of `Ref` and `Fn::GetAtt` as the local stack knows them.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub refs: HashMap<String, String>,
    pub attributes: HashMap<(String, String), String>,
}

pub struct Evaluator<'a> {
    pub settings: &'a StackSettings,
    pub resolved: &'a Resolved,
}

impl Evaluator<'_> {
    fn pseudo(&self, name: &str) -> Option<String> {
        let s = self.settings;
        Some(match name {
            "AWS::StackName" => s.stack_name.clone(),
            "AWS::Region" => s.region.clone(),
            "AWS::AccountId" => s.account.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str, at: &str) -> Result<String, TemplateError> {
        self.pseudo(name)
            .or_else(|| self.settings.parameters.get(name).cloned())
            .or_else(|| self.resolved.refs.get(name).cloned())
            .ok_or_else(|| unsupported(at, format!("Ref {name} has no local value")))
    }

    fn attribute(
        &self,
        resource: &str,
        attribute: &str,
        at: &str,
    ) -> Result<String, TemplateError> {
        self.resolved
            .attributes
            .get(&(resource.to_string(), attribute.to_string()))
            .cloned()
            .ok_or_else(|| {
                unsupported(
                    at,
                    format!("GetAtt {resource}.{attribute} has no local value"),
                )
            })
    }

    fn substitute(&self, text: &str, at: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| unsupported(at, format!("unclosed ${{ in {text:?}")))?;
            let name = &rest[start + 2..start + end];
            let value = match name.split_once('.') {
                Some((resource, attribute)) if !name.starts_with("AWS::") => {
                    self.attribute(resource, attribute, at)?
                }
                _ => self.reference(name, at)?,
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates a value that must come out as a string (numbers and booleans included).
    pub fn string(&self, value: &Value, at: &str) -> Result<String, TemplateError> {
        if let Some(s) = scalar(value) {
            return Ok(s);
        }
        let (function, argument) = match value {
            Value::Tagged(tagged) => (
                tagged.tag.to_string().trim_start_matches('!').to_string(),
                tagged.value.clone(),
            ),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default();
                let key = k.as_str().unwrap_or_default();
                (key.trim_start_matches("Fn::").to_string(), v)
            }
            _ => return Err(unsupported(at, format!("cannot evaluate {value:?}"))),
        };
        match function.as_str() {
            "Ref" => self.reference(argument.as_str().unwrap_or_default(), at),
            "Sub" => match &argument {
                Value::String(text) => self.substitute(text, at),
                _ => Err(unsupported(at, "only the one-argument form of Sub")),
            },
            "GetAtt" => {
                let (resource, attribute) = match &argument {
                    Value::String(text) => text
                        .split_once('.')
                        .map(|(r, a)| (r.to_string(), a.to_string()))
                        .ok_or_else(|| unsupported(at, format!("GetAtt {text}")))?,
                    Value::Sequence(parts) if parts.len() == 2 => (
                        parts[0].as_str().unwrap_or_default().to_string(),
                        parts[1].as_str().unwrap_or_default().to_string(),
                    ),
                    _ => return Err(unsupported(at, "GetAtt needs Resource.Attribute")),
                };
                self.attribute(&resource, &attribute, at)
            }
            other => Err(unsupported(
                at,
                format!("intrinsic {other} is not evaluated locally"),
            )),
        }
    }

    /// Evaluates a mapping of environment variables.
    pub fn variables(
        &self,
        value: Option<&Value>,
        at: &str,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut out = BTreeMap::new();
        if let Some(Value::Mapping(vars)) = value.and_then(|e| e.get("Variables")) {
            for (name, value) in vars {
                let name = name.as_str().unwrap_or_default().to_string();
                let value = self.string(value, &format!("{at}.{name}"))?;
                out.insert(name, value);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_the_intrinsics_the_template_uses() {
        let template = Template::parse(
            "Parameters:\n  N:\n    Type: Number\n    Default: 5\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub \"${AWS::StackName}-q\"\n      A: !GetAtt D.Arn\n      B: !Ref N\n      C: {\"Fn::GetAtt\": [D, Arn]}\n",
        )
        .expect("yaml");
        let settings = StackSettings {
            stack_name: "s".into(),
            region: "r".into(),
            account: "1".into(),
            parameters: template.parameter_defaults(),
        };
        let mut resolved = Resolved::default();
        resolved
            .attributes
            .insert(("D".into(), "Arn".into()), "arn:d".into());
        let eval = Evaluator {
            settings: &settings,
            resolved: &resolved,
        };
        let q = &template.resources()[0];
        assert_eq!(q.kind, Kind::Queue);
        let p = |k: &str| eval.string(q.properties.get(k).expect(k), k).expect(k);
        assert_eq!(p("QueueName"), "s-q");
        assert_eq!(p("A"), "arn:d");
        assert_eq!(p("B"), "5");
        assert_eq!(p("C"), "arn:d");
    }
}
