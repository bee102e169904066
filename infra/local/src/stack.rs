//! Creates the template's tables, queues, bucket, key and schedule group on the emulator
//! (idempotently) and works out each function's environment and event sources.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml_ng::{Mapping, Value};

use crate::template::{Evaluator, Kind, Resolved, ResourceDecl, StackSettings, Template};

#[derive(Debug, Clone)]
pub struct SqsSource {
    pub queue_logical_id: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub function_name: String,
    pub arn: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub sqs_sources: Vec<SqsSource>,
    pub http_api: bool,
    /// The function's `ScheduleV2` events: schedules the template itself declares.
    pub schedules: Vec<TemplateSchedule>,
}

/// A schedule the template declares on a function (a SAM `ScheduleV2` event), fired by the
/// local scheduler as EventBridge Scheduler fires the one SAM makes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSchedule {
    pub name: String,
    pub expression: String,
    pub input: String,
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub settings: StackSettings,
    pub functions: Vec<FunctionSpec>,
    /// Queue URLs by logical id.
    pub queues: HashMap<String, String>,
    pub schedule_groups: Vec<String>,
    /// The `Ref` and `GetAtt` values of the stack's resources, for evaluating more of the
    /// template (the functions' IAM policies).
    pub resolved: Resolved,
}

impl Stack {
    pub fn function(&self, logical_or_binary: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| {
            f.logical_id == logical_or_binary
                || f.binary == logical_or_binary
                || f.function_name == logical_or_binary
        })
    }

    /// The union of every function's environment, for `cargo lambda watch --env-file`.
    pub fn env_file(&self) -> String {
        let mut all = BTreeMap::new();
        for f in &self.functions {
            all.extend(f.environment.clone());
        }
        all.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    /// Replaces every queue's VisibilityTimeout (tests use a few seconds to see redelivery).
    pub visibility_timeout: Option<i32>,
}

fn err(context: impl std::fmt::Display, e: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{context}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    )
}

fn prop<'a>(decl: &'a ResourceDecl, key: &str) -> Option<&'a Value> {
    decl.properties.get(key)
}

fn seq(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Sequence(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The names and ARNs of the template's resources, which depend only on parameters and pseudo
/// parameters (KMS keys and queue URLs come from the emulator later): the `Ref` and `GetAtt`
/// values, and each resource's physical name by logical id.
pub fn resolve_names(
    declarations: &[ResourceDecl],
    settings: &StackSettings,
) -> anyhow::Result<(Resolved, HashMap<String, String>)> {
    let mut resolved = Resolved::default();
    let (region, account, stack) = (&settings.region, &settings.account, &settings.stack_name);
    let mut names = HashMap::new();
    for decl in declarations {
        let eval = Evaluator {
            settings,
            resolved: &resolved,
        };
        let named = |key: &str| -> anyhow::Result<String> {
            match prop(decl, key) {
                Some(v) => Ok(eval.string(v, &format!("{}.{key}", decl.logical_id))?),
                None => Ok(format!("{stack}-{}", decl.logical_id)),
            }
        };
        let name = match decl.kind {
            Kind::Table => named("TableName")?,
            Kind::Queue => named("QueueName")?,
            Kind::Bucket => named("BucketName")?.to_lowercase(),
            Kind::ScheduleGroup => named("Name")?,
            Kind::Function => named("FunctionName")?,
            Kind::Role => format!("{stack}-{}", decl.logical_id),
            Kind::KmsKey | Kind::Other(_) => continue,
        };
        let arn = match decl.kind {
            Kind::Table => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            Kind::Queue => format!("arn:aws:sqs:{region}:{account}:{name}"),
            Kind::Bucket => format!("arn:aws:s3:::{name}"),
            Kind::ScheduleGroup => {
                format!("arn:aws:scheduler:{region}:{account}:schedule-group/{name}")
            }
            Kind::Function => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            Kind::Role => format!("arn:aws:iam::{account}:role/{name}"),
            Kind::KmsKey | Kind::Other(_) => unreachable!("skipped above"),
        };
        let id = decl.logical_id.clone();
        resolved.attributes.insert((id.clone(), "Arn".into()), arn);
        if decl.kind == Kind::Queue {
            resolved
                .attributes
                .insert((id.clone(), "QueueName".into()), name.clone());
        }
        resolved.refs.insert(id.clone(), name.clone());
        names.insert(id, name);
    }
    Ok((resolved, names))
}

pub async fn bootstrap(
    config: &SdkConfig,
    template: &Template,
    settings: StackSettings,
    options: &BootstrapOptions,
) -> anyhow::Result<Stack> {
    let declarations = template.resources();
    let (mut resolved, names) = resolve_names(&declarations, &settings)?;
    let (region, account, stack) = (&settings.region, &settings.account, &settings.stack_name);

    // KMS keys, found again by alias on a second run.
    let kms = aws_sdk_kms::Client::new(config);
    for decl in declarations.iter().filter(|d| d.kind == Kind::KmsKey) {
        let alias = format!("alias/{stack}-{}", decl.logical_id);
        let aliases = kms
            .list_aliases()
            .send()
            .await
            .map_err(|e| err("kms ListAliases", e))?;
        let existing = aliases
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(alias.as_str()))
            .and_then(|a| a.target_key_id().map(str::to_string));
        let key_id = match existing {
            Some(id) => id,
            None => {
                let key = kms
                    .create_key()
                    .description(format!("{stack} {}", decl.logical_id))
                    .send()
                    .await
                    .map_err(|e| err("kms CreateKey", e))?;
                let id = key
                    .key_metadata()
                    .map(|m| m.key_id().to_string())
                    .ok_or_else(|| anyhow::anyhow!("kms CreateKey returned no key"))?;
                kms.create_alias()
                    .alias_name(&alias)
                    .target_key_id(&id)
                    .send()
                    .await
                    .map_err(|e| err("kms CreateAlias", e))?;
                id
            }
        };
        resolved.attributes.insert(
            (decl.logical_id.clone(), "Arn".into()),
            format!("arn:aws:kms:{region}:{account}:key/{key_id}"),
        );
        resolved.refs.insert(decl.logical_id.clone(), key_id);
    }

    let dynamo = aws_sdk_dynamodb::Client::new(config);
    for decl in declarations.iter().filter(|d| d.kind == Kind::Table) {
        create_table(&dynamo, decl, &names[&decl.logical_id]).await?;
    }

    // Queues: dead-letter queues (no redrive policy) before the queues that name them.
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut queues: Vec<&ResourceDecl> = declarations
        .iter()
        .filter(|d| d.kind == Kind::Queue)
        .collect();
    queues.sort_by_key(|d| prop(d, "RedrivePolicy").is_some());
    let mut queue_urls = HashMap::new();
    for decl in queues {
        let eval = Evaluator {
            settings: &settings,
            resolved: &resolved,
        };
        let at = |key: &str| format!("{}.{key}", decl.logical_id);
        let mut request = sqs.create_queue().queue_name(&names[&decl.logical_id]);
        if let Some(timeout) = options.visibility_timeout {
            request =
                request.attributes(QueueAttributeName::VisibilityTimeout, timeout.to_string());
        } else if let Some(v) = prop(decl, "VisibilityTimeout") {
            request = request.attributes(
                QueueAttributeName::VisibilityTimeout,
                eval.string(v, &at("VisibilityTimeout"))?,
            );
        }
        if let Some(v) = prop(decl, "MessageRetentionPeriod") {
            request = request.attributes(
                QueueAttributeName::MessageRetentionPeriod,
                eval.string(v, &at("MessageRetentionPeriod"))?,
            );
        }
        if let Some(redrive) = prop(decl, "RedrivePolicy") {
            let target = redrive
                .get("deadLetterTargetArn")
                .ok_or_else(|| anyhow::anyhow!("{}: deadLetterTargetArn", at("RedrivePolicy")))?;
            let receives = redrive
                .get("maxReceiveCount")
                .ok_or_else(|| anyhow::anyhow!("{}: maxReceiveCount", at("RedrivePolicy")))?;
            let policy = serde_json::json!({
                "deadLetterTargetArn": eval.string(target, &at("RedrivePolicy"))?,
                "maxReceiveCount": eval.string(receives, &at("RedrivePolicy"))?.parse::<u32>()?,
            });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let out = request
            .send()
            .await
            .map_err(|e| err(format!("sqs CreateQueue {}", decl.logical_id), e))?;
        let url = out.queue_url().unwrap_or_default().to_string();
        resolved.refs.insert(decl.logical_id.clone(), url.clone());
        queue_urls.insert(decl.logical_id.clone(), url);
    }

    let s3 = ferry::adapters::aws::s3_client(config);
    for decl in declarations.iter().filter(|d| d.kind == Kind::Bucket) {
        let name = &names[&decl.logical_id];
        if let Err(e) = s3.create_bucket().bucket(name).send().await {
            let owned = e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            });
            if !owned {
                return Err(err(format!("s3 CreateBucket {name}"), e));
            }
        }
    }

    let scheduler = aws_sdk_scheduler::Client::new(config);
    let mut schedule_groups = Vec::new();
    for decl in declarations
        .iter()
        .filter(|d| d.kind == Kind::ScheduleGroup)
    {
        let name = &names[&decl.logical_id];
        if let Err(e) = scheduler.create_schedule_group().name(name).send().await {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_conflict_exception())
            {
                return Err(err(format!("scheduler CreateScheduleGroup {name}"), e));
            }
        }
        schedule_groups.push(name.clone());
    }

    let functions = functions(template, &declarations, &settings, &resolved, &queue_urls)?;
    Ok(Stack {
        settings,
        functions,
        queues: queue_urls,
        schedule_groups,
        resolved,
    })
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    decl: &ResourceDecl,
    name: &str,
) -> anyhow::Result<()> {
    let key_schema = |items: Vec<Value>| -> anyhow::Result<Vec<KeySchemaElement>> {
        items
            .iter()
            .map(|k| {
                Ok(KeySchemaElement::builder()
                    .attribute_name(text(k, "AttributeName"))
                    .key_type(KeyType::from(text(k, "KeyType").as_str()))
                    .build()?)
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(seq(prop(decl, "KeySchema")))?));
    for a in seq(prop(decl, "AttributeDefinitions")) {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(
                    text(&a, "AttributeType").as_str(),
                ))
                .build()?,
        );
    }
    for index in seq(prop(decl, "GlobalSecondaryIndexes")) {
        let projection = index
            .get("Projection")
            .map(|p| text(p, "ProjectionType"))
            .unwrap_or_else(|| "ALL".into());
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(&index, "IndexName"))
                .set_key_schema(Some(key_schema(seq(index.get("KeySchema")))?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection.as_str()))
                        .build(),
                )
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(err(format!("dynamodb CreateTable {name}"), e)),
    }
}

/// A function's cargo binary (`Metadata.BuildProperties.Binary`).
pub fn function_binary(decl: &ResourceDecl) -> Option<&str> {
    decl.metadata
        .get("BuildProperties")
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
}

fn functions(
    template: &Template,
    declarations: &[ResourceDecl],
    settings: &StackSettings,
    resolved: &Resolved,
    queue_urls: &HashMap<String, String>,
) -> anyhow::Result<Vec<FunctionSpec>> {
    let eval = Evaluator { settings, resolved };
    let global_env = eval.variables(
        template.function_global("Environment"),
        "Globals.Function.Environment",
    )?;
    let number = |decl: &ResourceDecl, key: &str, default: u64| -> anyhow::Result<u64> {
        match prop(decl, key).or_else(|| template.function_global(key)) {
            Some(v) => Ok(eval.string(v, key)?.parse()?),
            None => Ok(default),
        }
    };
    let mut out = Vec::new();
    for decl in declarations.iter().filter(|d| d.kind == Kind::Function) {
        let id = &decl.logical_id;
        let binary = function_binary(decl)
            .ok_or_else(|| anyhow::anyhow!("{id}: Metadata.BuildProperties.Binary is required"))?
            .to_string();
        let mut environment = global_env.clone();
        environment
            .extend(eval.variables(prop(decl, "Environment"), &format!("{id}.Environment"))?);
        let mut sqs_sources = Vec::new();
        let mut http_api = false;
        let mut schedules = Vec::new();
        if let Some(Value::Mapping(events)) = prop(decl, "Events") {
            for (name, event) in events {
                let at = format!("{id}.Events.{}", name.as_str().unwrap_or_default());
                let properties = match event.get("Properties") {
                    Some(Value::Mapping(m)) => m.clone(),
                    _ => Mapping::new(),
                };
                match event.get("Type").and_then(Value::as_str) {
                    Some("SQS") => {
                        let queue = properties
                            .get("Queue")
                            .ok_or_else(|| anyhow::anyhow!("{at}: Queue"))?;
                        let queue_arn = eval.string(queue, &at)?;
                        let (queue_logical_id, queue_url) = queue_urls
                            .iter()
                            .find(|(logical, _)| {
                                resolved.attributes.get(&((*logical).clone(), "Arn".into()))
                                    == Some(&queue_arn)
                            })
                            .map(|(l, u)| (l.clone(), u.clone()))
                            .ok_or_else(|| {
                                anyhow::anyhow!("{at}: no queue with ARN {queue_arn}")
                            })?;
                        let batch_size = match properties.get("BatchSize") {
                            Some(v) => eval.string(v, &at)?.parse()?,
                            None => 10,
                        };
                        let report_batch_item_failures =
                            seq(properties.get("FunctionResponseTypes"))
                                .iter()
                                .any(|t| t.as_str() == Some("ReportBatchItemFailures"));
                        sqs_sources.push(SqsSource {
                            queue_logical_id,
                            queue_url,
                            queue_arn,
                            batch_size,
                            report_batch_item_failures,
                        });
                    }
                    Some("HttpApi") => http_api = true,
                    Some("ScheduleV2") => {
                        let text = |key: &str| -> anyhow::Result<Option<String>> {
                            properties
                                .get(key)
                                .map(|v| eval.string(v, &format!("{at}.{key}")))
                                .transpose()
                                .map_err(anyhow::Error::from)
                        };
                        let expression = text("ScheduleExpression")?
                            .ok_or_else(|| anyhow::anyhow!("{at}: ScheduleExpression"))?;
                        if text("State")?.as_deref() != Some("DISABLED") {
                            schedules.push(TemplateSchedule {
                                name: format!("{id}-{}", name.as_str().unwrap_or_default()),
                                expression,
                                input: text("Input")?.unwrap_or_else(|| "{}".into()),
                            });
                        }
                    }
                    // AWS services' own events (ECR's pushes) have no source on this machine:
                    // tests hand them to the function as EventBridge would.
                    Some("EventBridgeRule") => {}
                    other => anyhow::bail!("{at}: event type {other:?} is not run locally"),
                }
            }
        }
        out.push(FunctionSpec {
            logical_id: id.clone(),
            function_name: resolved.refs.get(id).cloned().unwrap_or_else(|| id.clone()),
            arn: resolved
                .attributes
                .get(&(id.clone(), "Arn".into()))
                .cloned()
                .unwrap_or_default(),
            binary,
            environment,
            timeout: Duration::from_secs(number(decl, "Timeout", 3)?),
            memory_mb: u32::try_from(number(decl, "MemorySize", 128)?)?,
            sqs_sources,
            http_api,
            schedules,
        });
    }
    Ok(out)
}
