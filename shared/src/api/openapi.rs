//! The OpenAPI 3 description of Ferry's API, built from [`ROUTES`] and from the model types'
//! derived schemas: the routes it lists are the routes the router serves.

use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi,
    OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::{Endpoint, BASE_PATH, ROUTES};
use crate::model::notification::{WebhookDelivery, WebhookPolicy};
use crate::model::{Execution, Registry, ReplicationPolicy, Task};

/// Built once per document; its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Json(RefOr<Schema>),
    Text,
    Empty,
}

struct Doc {
    request: Option<RefOr<Schema>>,
    status: &'static str,
    answer: Answer,
    errors: &'static [&'static str],
    /// Query parameters besides paging: name and description.
    query: &'static [(&'static str, &'static str)],
    paged: bool,
}

fn named(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn list_of(name: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Array(
        ArrayBuilder::new().items(named(name)).build(),
    ))
}

fn object_with(fields: &[(&str, Type)]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new();
    for (name, kind) in fields {
        object = object.property(*name, ObjectBuilder::new().schema_type(kind.clone()));
    }
    RefOr::T(Schema::Object(object.build()))
}

/// `{"executions": [ids]}`: what a webhook started.
fn executions_started() -> RefOr<Schema> {
    let ids = utoipa::openapi::schema::ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Integer));
    RefOr::T(Schema::Object(
        ObjectBuilder::new().property("executions", ids).build(),
    ))
}

fn any_object() -> RefOr<Schema> {
    RefOr::T(Schema::Object(ObjectBuilder::new().build()))
}

const QUERY: (&str, &str) = (
    "q",
    "k=v exact, k=~v fuzzy, k=[min~max] range, k={a b} any of, k=(a b) all of; comma separated",
);
const POLICY_QUERY: (&str, &str) = (
    "q",
    "k=v exact, k=~v fuzzy, k=[min~max] range, k={a b} any of, k=(a b) all of; comma separated. \
     Ferry's addition: scope=system|namespace and namespace=<ns> (exact values only); namespace \
     alone also lists the system policies that refer to the namespace",
);
const SORT: (&str, &str) = ("sort", "f1,-f2: ascending f1, then descending f2");
const NAME: (&str, &str) = ("name", "only those whose name contains this");

fn doc(endpoint: Endpoint) -> Doc {
    let plain = |status, answer| Doc {
        request: None,
        status,
        answer,
        errors: &[],
        query: &[],
        paged: false,
    };
    match endpoint {
        Endpoint::Ping => plain("200", Answer::Text),
        Endpoint::RegistryWebhook => Doc {
            errors: &["404"],
            ..plain(
                "200",
                Answer::Json(object_with(&[
                    ("url", Type::String),
                    ("token_issued", Type::Boolean),
                ])),
            )
        },
        Endpoint::RotateWebhook => Doc {
            errors: &["404"],
            ..plain(
                "200",
                Answer::Json(object_with(&[
                    ("url", Type::String),
                    ("token_issued", Type::Boolean),
                    ("authorization", Type::String),
                ])),
            )
        },
        Endpoint::ReceiveWebhook => Doc {
            request: Some(any_object()),
            errors: &["400", "401", "413"],
            ..plain("200", Answer::Json(executions_started()))
        },
        Endpoint::SystemInfo | Endpoint::OpenApi => plain("200", Answer::Json(any_object())),
        Endpoint::ListRegistries => Doc {
            paged: true,
            query: &[QUERY, SORT, NAME],
            ..plain("200", Answer::Json(list_of("Registry")))
        },
        Endpoint::CreateRegistry => Doc {
            request: Some(named("Registry")),
            errors: &["400", "409", "413"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::PingRegistry => Doc {
            request: Some(named("RegistryPing")),
            errors: &["400", "404"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::GetRegistry => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("Registry")))
        },
        Endpoint::UpdateRegistry => Doc {
            request: Some(named("RegistryUpdate")),
            errors: &["400", "404", "409"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::DeleteRegistry => Doc {
            errors: &["404", "412"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::RegistryInfo => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(any_object()))
        },
        Endpoint::ListAdapters => plain(
            "200",
            Answer::Json(RefOr::T(Schema::Array(
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .build(),
            ))),
        ),
        Endpoint::ListAdapterInfos => plain("200", Answer::Json(any_object())),
        Endpoint::ListPolicies => Doc {
            paged: true,
            query: &[POLICY_QUERY, SORT, NAME],
            ..plain("200", Answer::Json(list_of("ReplicationPolicy")))
        },
        Endpoint::CreatePolicy => Doc {
            request: Some(named("ReplicationPolicy")),
            errors: &["400", "409", "413"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::GetPolicy => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("ReplicationPolicy")))
        },
        Endpoint::UpdatePolicy => Doc {
            request: Some(named("ReplicationPolicy")),
            errors: &["400", "404", "409"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::DeletePolicy => Doc {
            errors: &["404", "412"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::ListHandlers => Doc {
            errors: &["404"],
            ..plain(
                "200",
                Answer::Json(RefOr::T(Schema::Array(
                    ArrayBuilder::new()
                        .items(named("ReplicationHandler"))
                        .build(),
                ))),
            )
        },
        Endpoint::CreateHandler => Doc {
            request: Some(named("ReplicationHandler")),
            errors: &["400", "404"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::GetHandler => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("ReplicationHandler")))
        },
        Endpoint::UpdateHandler => Doc {
            request: Some(named("ReplicationHandler")),
            errors: &["400", "404"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::DeleteHandler => Doc {
            errors: &["404"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::ListExecutions => Doc {
            paged: true,
            query: &[
                SORT,
                ("policy_id", "only this policy's"),
                ("status", "InProgress, Succeed, Failed or Stopped"),
                ("trigger", "manual, scheduled or event_based"),
            ],
            ..plain("200", Answer::Json(list_of("Execution")))
        },
        Endpoint::StartExecution => Doc {
            request: Some(object_with(&[("policy_id", Type::Integer), ("dry_run", Type::Boolean)])),
            errors: &["400", "404", "412"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::GetExecution => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("Execution")))
        },
        Endpoint::StopExecution => Doc {
            errors: &["404"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::RetryExecution => Doc {
            errors: &["404", "412"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::ListTasks => Doc {
            paged: true,
            query: &[
                SORT,
                ("status", "Pending, InProgress, Succeed, Failed or Stopped"),
                (
                    "resource_type",
                    "an artifact type: image, chart, artifact (any but image and chart), or another built-in or registered type (Ferry's addition)",
                ),
            ],
            errors: &["404"],
            ..plain("200", Answer::Json(list_of("Task")))
        },
        Endpoint::ListArtifacts => Doc {
            paged: true,
            query: &[
                SORT,
                ("type", "only artifacts of this type (artifact: any but image and chart)"),
            ],
            errors: &["404"],
            ..plain("200", Answer::Json(list_of("ExecutionArtifact")))
        },
        Endpoint::TaskLog => Doc {
            errors: &["404"],
            ..plain("200", Answer::Text)
        },
        Endpoint::ListRobots => Doc {
            paged: true,
            query: &[QUERY, SORT],
            ..plain("200", Answer::Json(list_of("Robot")))
        },
        Endpoint::CreateRobot => Doc {
            request: Some(named("RobotCreate")),
            errors: &["409"],
            ..plain("201", Answer::Json(named("RobotCreated")))
        },
        Endpoint::GetRobot => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("Robot")))
        },
        Endpoint::UpdateRobot => Doc {
            request: Some(named("Robot")),
            errors: &["404", "409"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::RefreshRobotSecret => Doc {
            request: Some(named("RobotSec")),
            errors: &["404"],
            ..plain("200", Answer::Json(named("RobotSec")))
        },
        Endpoint::DeleteRobot | Endpoint::DeleteWebhookPolicy => Doc {
            errors: &["404"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::ListWebhookPolicies => Doc {
            paged: true,
            query: &[QUERY, SORT, NAME],
            ..plain("200", Answer::Json(list_of("WebhookPolicy")))
        },
        Endpoint::CreateWebhookPolicy => Doc {
            request: Some(named("WebhookPolicy")),
            errors: &["400", "409", "413"],
            ..plain("201", Answer::Empty)
        },
        Endpoint::GetWebhookPolicy => Doc {
            errors: &["404"],
            ..plain("200", Answer::Json(named("WebhookPolicy")))
        },
        Endpoint::UpdateWebhookPolicy => Doc {
            request: Some(named("WebhookPolicy")),
            errors: &["400", "404", "409"],
            ..plain("200", Answer::Empty)
        },
        Endpoint::ListWebhookDeliveries => Doc {
            paged: true,
            query: &[SORT],
            errors: &["404"],
            ..plain("200", Answer::Json(list_of("WebhookDelivery")))
        },
    }
}

fn description(status: &str) -> &'static str {
    match status {
        "200" => "Success",
        "201" => "Created; Location names the new resource",
        "400" => "Bad request: the message names the field and the reason",
        "401" => "Unauthorized",
        "403" => "Forbidden: a robot without the permission this route needs, or a project robot acting outside its namespace (Ferry's policy scope)",
        "404" => "Not found",
        "409" => "Conflict: the name is taken, or (Ferry's policy scope) a namespace policy would overlap a system policy to the same destination registry",
        "412" => "Precondition failed",
        "413" => "The body is too large, or carries too many events",
        "429" => "Too many failed logins; Retry-After says when to try again",
        _ => "Internal error",
    }
}

fn query_parameter(
    name: &str,
    description: &str,
    integer: bool,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(if integer {
            Type::Integer
        } else {
            Type::String
        })))
        .build()
}

/// The policy's schema with Ferry's `read_only`, which only answers carry (never stored).
fn policy_schema() -> RefOr<Schema> {
    let mut schema = ReplicationPolicy::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.properties.insert(
            "read_only".into(),
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "Ferry's addition, in answers to a project robot only: true for a system policy that refers to the robot's namespace, which it may read but not change or run",
                    ))
                    .build(),
            )),
        );
    }
    schema
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    Registry::schemas(&mut schemas);
    ReplicationPolicy::schemas(&mut schemas);
    Execution::schemas(&mut schemas);
    Task::schemas(&mut schemas);
    crate::api::executions::ExecutionArtifact::schemas(&mut schemas);
    crate::model::robot::Robot::schemas(&mut schemas);
    WebhookPolicy::schemas(&mut schemas);
    WebhookDelivery::schemas(&mut schemas);
    let errors = object_with(&[("errors", Type::Array)]);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .schema(Registry::name(), Registry::schema())
        .schema(ReplicationPolicy::name(), policy_schema())
        .schema(Execution::name(), Execution::schema())
        .schema(Task::name(), Task::schema())
        .schema(
            crate::api::executions::ExecutionArtifact::name(),
            crate::api::executions::ExecutionArtifact::schema(),
        )
        .schema(
            "ReplicationHandler",
            crate::model::ReplicationHandler::schema(),
        )
        .schema("RegistryUpdate", crate::model::RegistryUpdate::schema())
        .schema("RegistryPing", super::registries::RegistryPing::schema())
        .schema("Robot", crate::model::robot::Robot::schema())
        .schema("RobotCreate", super::robots::RobotCreate::schema())
        .schema("RobotCreated", super::robots::RobotCreated::schema())
        .schema("RobotSec", super::robots::RobotSec::schema())
        .schema("WebhookPolicy", WebhookPolicy::schema())
        .schema("WebhookDelivery", WebhookDelivery::schema())
        .schema("Errors", errors)
        .security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        )
        .build();

    let mut items: Vec<(String, PathItem)> = Vec::new();
    for route in ROUTES {
        let doc = doc(route.endpoint);
        let mut operation = OperationBuilder::new()
            .operation_id(Some(route.operation_id))
            .summary(Some(route.summary));
        for name in ["id", "task_id", "handler_id"] {
            if route.path.contains(&format!("{{{name}}}")) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer))),
                );
            }
        }
        if doc.paged {
            operation = operation
                .parameter(query_parameter("page", "page number, from 1", true))
                .parameter(query_parameter(
                    "page_size",
                    "items a page, 1 to 100 (default 10)",
                    true,
                ));
        }
        for (name, text) in doc.query {
            operation = operation.parameter(query_parameter(name, text, *name == "policy_id"));
        }
        let has_body = doc.request.is_some();
        if let Some(request) = doc.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(request)).build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let success = match doc.answer {
            Answer::Json(schema) => ResponseBuilder::new()
                .description(description(doc.status))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                ),
            Answer::Text => ResponseBuilder::new()
                .description(description(doc.status))
                .content(
                    "text/plain",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                ),
            Answer::Empty => ResponseBuilder::new().description(description(doc.status)),
        };
        operation = operation.response(doc.status, success.build());
        let mut errors: Vec<&str> = doc.errors.to_vec();
        // What the router answers before the handler: a path id that is not a positive
        // integer, paging out of range, a body that is not JSON or is over the size limit.
        if route.path.contains('{') || doc.paged || doc.query.iter().any(|(n, _)| *n == "q") {
            errors.push("400");
        }
        if has_body {
            errors.extend(["400", "413"]);
        }
        if !route.public {
            errors.extend(["401", "403", "429"]);
            operation = operation.security(SecurityRequirement::new("basic", Vec::<String>::new()));
        }
        errors.push("500");
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            operation = operation.response(
                status,
                ResponseBuilder::new()
                    .description(description(status))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(named("Errors"))).build(),
                    )
                    .build(),
            );
        }
        let path = format!("{BASE_PATH}{}", route.path);
        let index = match items.iter().position(|(p, _)| *p == path) {
            Some(index) => index,
            None => {
                items.push((path, PathItem::default()));
                items.len() - 1
            }
        };
        let item = &mut items[index].1;
        let operation = Some(operation.build());
        match route.method {
            "GET" => item.get = operation,
            "POST" => item.post = operation,
            "PUT" => item.put = operation,
            "DELETE" => item.delete = operation,
            "PATCH" => item.patch = operation,
            other => tracing::error!(
                method = other,
                "a route with a method OpenAPI is not told of"
            ),
        }
    }
    let mut paths = PathsBuilder::new();
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Ferry")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Harbor v2.0 compatible registry and replication API. Besides these routes, \
                     Ferry serves the distribution pull API (`GET`/`HEAD` `/v2/`, \
                     `/v2/<name>/manifests/<tag or digest>`, `/v2/<name>/blobs/<digest>`) for \
                     the destination namespaces of policies with `auto_sync` on: what the \
                     destination lacks is replicated from the policy's source on the pull.",
                )),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description lists exactly the routes the router serves, each with its method.
    #[test]
    fn lists_exactly_the_routes_that_exist() {
        let json = serde_json::to_value(document()).expect("json");
        let paths = json["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let mut served: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {BASE_PATH}{}", r.method, r.path))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
        for name in [
            "Registry",
            "ReplicationPolicy",
            "Execution",
            "Task",
            "Credential",
            "Filter",
            "Trigger",
            "RegistryUpdate",
            "RegistryPing",
        ] {
            assert!(
                json["components"]["schemas"].get(name).is_some(),
                "schema {name} missing"
            );
        }
        let registry = &json["components"]["schemas"]["Registry"]["properties"];
        assert!(
            registry.get("type").is_some(),
            "serde's renames are followed"
        );
        let policy = &json["components"]["schemas"]["ReplicationPolicy"]["properties"];
        assert!(policy.get("override").is_some());
        for ferrys in ["scope", "namespace", "read_only", "auto_sync", "prune"] {
            // A `$ref` (scope) carries its description inside `oneOf`.
            assert!(
                policy[ferrys].to_string().contains("Ferry's addition"),
                "{ferrys}: {policy}"
            );
        }
        assert!(json["components"]["schemas"].get("PolicyScope").is_some());
        let auto_sync = &json["components"]["schemas"]["AutoSync"]["properties"];
        for flag in ["enabled", "public", "on_pull_event"] {
            assert!(
                auto_sync.get(flag).is_some(),
                "auto_sync.{flag}: {auto_sync}"
            );
        }
    }

    #[test]
    fn every_route_template_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }
}
