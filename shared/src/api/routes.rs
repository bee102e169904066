//! The route table: every route the API serves, with Harbor's operation ids. The router
//! dispatches on it and the OpenAPI description documents it, so neither can name a route the
//! other lacks.

use super::errors::ApiError;
use crate::model::robot::{RobotAction, RobotResource};

/// What a route does; the router dispatches on it and the OpenAPI description documents it,
/// both from [`ROUTES`], so neither can name a route the other lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Ping,
    SystemInfo,
    OpenApi,
    ListRegistries,
    CreateRegistry,
    PingRegistry,
    GetRegistry,
    UpdateRegistry,
    DeleteRegistry,
    RegistryInfo,
    RegistryWebhook,
    RotateWebhook,
    ReceiveWebhook,
    ListAdapters,
    ListAdapterInfos,
    ListPolicies,
    CreatePolicy,
    GetPolicy,
    UpdatePolicy,
    DeletePolicy,
    ListHandlers,
    CreateHandler,
    GetHandler,
    UpdateHandler,
    DeleteHandler,
    ListExecutions,
    StartExecution,
    GetExecution,
    StopExecution,
    RetryExecution,
    ListTasks,
    TaskLog,
    ListArtifacts,
    ListRobots,
    CreateRobot,
    GetRobot,
    UpdateRobot,
    RefreshRobotSecret,
    DeleteRobot,
    ListWebhookPolicies,
    CreateWebhookPolicy,
    GetWebhookPolicy,
    UpdateWebhookPolicy,
    DeleteWebhookPolicy,
    ListWebhookDeliveries,
}

impl Endpoint {
    /// The permission a robot needs to call the route; None: the admin's alone (the robot
    /// routes) or public.
    pub fn robot_permission(self) -> Option<(RobotResource, RobotAction)> {
        use RobotAction::{Create, Delete, List, Read, Update};
        use RobotResource::{Registry, Replication, ReplicationPolicy};
        Some(match self {
            Self::Ping | Self::SystemInfo | Self::OpenApi | Self::ReceiveWebhook => return None,
            Self::ListRobots
            | Self::CreateRobot
            | Self::GetRobot
            | Self::UpdateRobot
            | Self::RefreshRobotSecret
            | Self::DeleteRobot => return None,
            // Webhook policies hold receivers' credentials: the admin's alone.
            Self::ListWebhookPolicies
            | Self::CreateWebhookPolicy
            | Self::GetWebhookPolicy
            | Self::UpdateWebhookPolicy
            | Self::DeleteWebhookPolicy
            | Self::ListWebhookDeliveries => return None,
            Self::ListRegistries | Self::ListAdapters | Self::ListAdapterInfos => (Registry, List),
            Self::GetRegistry | Self::RegistryInfo | Self::RegistryWebhook => (Registry, Read),
            Self::CreateRegistry | Self::PingRegistry => (Registry, Create),
            Self::UpdateRegistry | Self::RotateWebhook => (Registry, Update),
            Self::DeleteRegistry => (Registry, Delete),
            Self::ListPolicies => (ReplicationPolicy, List),
            Self::GetPolicy => (ReplicationPolicy, Read),
            Self::CreatePolicy => (ReplicationPolicy, Create),
            Self::UpdatePolicy => (ReplicationPolicy, Update),
            Self::DeletePolicy => (ReplicationPolicy, Delete),
            // A handler is part of its policy: reading it reads the policy, changing it
            // updates the policy.
            Self::ListHandlers | Self::GetHandler => (ReplicationPolicy, Read),
            Self::CreateHandler | Self::UpdateHandler | Self::DeleteHandler => {
                (ReplicationPolicy, Update)
            }
            Self::ListExecutions | Self::ListTasks | Self::ListArtifacts => (Replication, List),
            Self::GetExecution | Self::TaskLog => (Replication, Read),
            Self::StartExecution | Self::RetryExecution => (Replication, Create),
            Self::StopExecution => (Replication, Update),
        })
    }
}

pub struct Route {
    pub method: &'static str,
    /// Under [`BASE_PATH`], with `{id}` and `{task_id}` for path parameters.
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// Harbor's operationId, so generated clients keep their method names.
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub public: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
    operation_id: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        operation_id,
        summary,
        public: false,
    }
}

const fn public(
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
    operation_id: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        operation_id,
        summary,
        public: true,
    }
}

/// Every route the API serves.
pub const ROUTES: &[Route] = &[
    public("GET", "/ping", Endpoint::Ping, "getPing", "Answers Pong"),
    public(
        "GET",
        "/systeminfo",
        Endpoint::SystemInfo,
        "getSystemInfo",
        "Ferry's version",
    ),
    public(
        "GET",
        "/openapi.json",
        Endpoint::OpenApi,
        "getOpenApi",
        "This description",
    ),
    // Authenticated by the registry's own webhook token, not the admin password.
    public(
        "POST",
        "/replication/webhooks/{id}",
        Endpoint::ReceiveWebhook,
        "receiveReplicationWebhook",
        "Ferry's addition: a source registry's push and delete notifications (CNCF distribution or Harbor payloads), with `Authorization: Bearer <the registry's webhook token>`",
    ),
    route(
        "GET",
        "/registries/{id}/webhook",
        Endpoint::RegistryWebhook,
        "getRegistryWebhook",
        "Ferry's addition: where this registry sends its notifications, and whether a webhook token was issued",
    ),
    route(
        "POST",
        "/registries/{id}/webhook",
        Endpoint::RotateWebhook,
        "rotateRegistryWebhook",
        "Ferry's addition: issues a new webhook token for this registry (the old one stops working) and shows it, once",
    ),
    route(
        "GET",
        "/registries",
        Endpoint::ListRegistries,
        "listRegistries",
        "List registries",
    ),
    route(
        "POST",
        "/registries",
        Endpoint::CreateRegistry,
        "createRegistry",
        "Add a registry after checking its health",
    ),
    route(
        "POST",
        "/registries/ping",
        Endpoint::PingRegistry,
        "pingRegistry",
        "Check a registry's health",
    ),
    route(
        "GET",
        "/registries/{id}",
        Endpoint::GetRegistry,
        "getRegistry",
        "Read a registry",
    ),
    route(
        "PUT",
        "/registries/{id}",
        Endpoint::UpdateRegistry,
        "updateRegistry",
        "Update a registry",
    ),
    route(
        "DELETE",
        "/registries/{id}",
        Endpoint::DeleteRegistry,
        "deleteRegistry",
        "Delete a registry no policy uses",
    ),
    route(
        "GET",
        "/registries/{id}/info",
        Endpoint::RegistryInfo,
        "getRegistryInfo",
        "A registry's capabilities",
    ),
    route(
        "GET",
        "/replication/adapters",
        Endpoint::ListAdapters,
        "listRegistryProviderTypes",
        "Registry kinds Ferry supports",
    ),
    route(
        "GET",
        "/replication/adapterinfos",
        Endpoint::ListAdapterInfos,
        "listRegistryProviderInfos",
        "Endpoint and credential patterns per kind",
    ),
    route(
        "GET",
        "/replication/policies",
        Endpoint::ListPolicies,
        "listReplicationPolicies",
        "List policies",
    ),
    route(
        "POST",
        "/replication/policies",
        Endpoint::CreatePolicy,
        "createReplicationPolicy",
        "Create a policy",
    ),
    route(
        "GET",
        "/replication/policies/{id}",
        Endpoint::GetPolicy,
        "getReplicationPolicy",
        "Read a policy",
    ),
    route(
        "PUT",
        "/replication/policies/{id}",
        Endpoint::UpdatePolicy,
        "updateReplicationPolicy",
        "Replace a policy",
    ),
    route(
        "DELETE",
        "/replication/policies/{id}",
        Endpoint::DeletePolicy,
        "deleteReplicationPolicy",
        "Delete a policy with no running execution",
    ),
    route(
        "GET",
        "/replication/policies/{id}/handlers",
        Endpoint::ListHandlers,
        "listReplicationHandlers",
        "Ferry's addition (seed 000): the policy's prepare_replication handlers",
    ),
    route(
        "POST",
        "/replication/policies/{id}/handlers",
        Endpoint::CreateHandler,
        "createReplicationHandler",
        "Ferry's addition (seed 000): register a prepare_replication handler, called with the destination's credential before an execution writes any task; an answer in its abort codes fails the execution",
    ),
    route(
        "GET",
        "/replication/policies/{id}/handlers/{handler_id}",
        Endpoint::GetHandler,
        "getReplicationHandler",
        "Ferry's addition (seed 000): read a handler",
    ),
    route(
        "PUT",
        "/replication/policies/{id}/handlers/{handler_id}",
        Endpoint::UpdateHandler,
        "updateReplicationHandler",
        "Ferry's addition (seed 000): replace a handler",
    ),
    route(
        "DELETE",
        "/replication/policies/{id}/handlers/{handler_id}",
        Endpoint::DeleteHandler,
        "deleteReplicationHandler",
        "Ferry's addition (seed 000): delete a handler",
    ),
    route(
        "GET",
        "/replication/executions",
        Endpoint::ListExecutions,
        "listReplicationExecutions",
        "List executions",
    ),
    route(
        "POST",
        "/replication/executions",
        Endpoint::StartExecution,
        "startReplication",
        "Start an execution of a policy; `\"dry_run\": true` (Ferry's addition) starts a plan: listed and filtered as the real execution, its tasks saying what each artifact would come to (plan: copy, overwrite, skip unchanged, skip held, delete), nothing written to the destination",
    ),
    route(
        "GET",
        "/replication/executions/{id}",
        Endpoint::GetExecution,
        "getReplicationExecution",
        "Read an execution",
    ),
    route(
        "PUT",
        "/replication/executions/{id}",
        Endpoint::StopExecution,
        "stopReplication",
        "Stop an execution",
    ),
    route(
        "POST",
        "/replication/executions/{id}/retry",
        Endpoint::RetryExecution,
        "retryReplication",
        "Ferry's addition: run the failed tasks of an ended execution again, as a new execution",
    ),
    route(
        "GET",
        "/replication/executions/{id}/tasks",
        Endpoint::ListTasks,
        "listReplicationTasks",
        "List an execution's tasks",
    ),
    route(
        "GET",
        "/replication/executions/{id}/tasks/{task_id}/log",
        Endpoint::TaskLog,
        "getReplicationLog",
        "A task's log, as text",
    ),
    route(
        "GET",
        "/replication/executions/{id}/artifacts",
        Endpoint::ListArtifacts,
        "listReplicationArtifacts",
        "Ferry's addition (seed 004): the artifacts an execution copied, each with its type, media types, digest and the extra_attrs and additions its type's processor read",
    ),
    route(
        "GET",
        "/robots",
        Endpoint::ListRobots,
        "ListRobot",
        "List robot accounts (the admin only)",
    ),
    route(
        "POST",
        "/robots",
        Endpoint::CreateRobot,
        "CreateRobot",
        "Create a robot account; its secret is shown once (the admin only)",
    ),
    route(
        "GET",
        "/robots/{id}",
        Endpoint::GetRobot,
        "GetRobotByID",
        "Read a robot account (the admin only)",
    ),
    route(
        "PUT",
        "/robots/{id}",
        Endpoint::UpdateRobot,
        "UpdateRobot",
        "Update a robot's description, permissions, duration or disable it (the admin only)",
    ),
    route(
        "PATCH",
        "/robots/{id}",
        Endpoint::RefreshRobotSecret,
        "RefreshSec",
        "Give a robot a new secret, generated or the one sent; shown once (the admin only)",
    ),
    route(
        "DELETE",
        "/robots/{id}",
        Endpoint::DeleteRobot,
        "DeleteRobot",
        "Delete a robot account (the admin only)",
    ),
    route(
        "GET",
        "/webhook/policies",
        Endpoint::ListWebhookPolicies,
        "ListWebhookPoliciesOfProject",
        "Ferry's addition (Harbor's, without projects): list webhook policies for replication events (the admin only)",
    ),
    route(
        "POST",
        "/webhook/policies",
        Endpoint::CreateWebhookPolicy,
        "CreateWebhookPolicyOfProject",
        "Ferry's addition: create a webhook policy; event_types REPLICATION or Ferry's REPLICATION_EXECUTION_STARTED, REPLICATION_EXECUTION_ENDED, REPLICATION_TASK_FAILED (the admin only)",
    ),
    route(
        "GET",
        "/webhook/policies/{id}",
        Endpoint::GetWebhookPolicy,
        "GetWebhookPolicyOfProject",
        "Ferry's addition: read a webhook policy; auth headers masked (the admin only)",
    ),
    route(
        "PUT",
        "/webhook/policies/{id}",
        Endpoint::UpdateWebhookPolicy,
        "UpdateWebhookPolicyOfProject",
        "Ferry's addition: update a webhook policy; a masked auth header keeps the stored one (the admin only)",
    ),
    route(
        "DELETE",
        "/webhook/policies/{id}",
        Endpoint::DeleteWebhookPolicy,
        "DeleteWebhookPolicyOfProject",
        "Ferry's addition: delete a webhook policy (the admin only)",
    ),
    route(
        "GET",
        "/webhook/policies/{id}/executions",
        Endpoint::ListWebhookDeliveries,
        "ListExecutionsOfWebhookPolicy",
        "Ferry's addition: a webhook policy's deliveries, newest first, with their status, attempts and the receiver's last answer (the admin only)",
    ),
];

/// Path parameters of a matched route.
#[derive(Debug, Default)]
pub(super) struct PathParams {
    id: Option<i64>,
    task_id: Option<i64>,
    handler_id: Option<i64>,
}

impl PathParams {
    pub(super) fn id(&self) -> Result<i64, ApiError> {
        self.id
            .ok_or_else(|| ApiError::internal("route without {id}"))
    }

    pub(super) fn handler_id(&self) -> Result<i64, ApiError> {
        self.handler_id
            .ok_or_else(|| ApiError::internal("route without {handler_id}"))
    }

    pub(super) fn task_id(&self) -> Result<i64, ApiError> {
        self.task_id
            .ok_or_else(|| ApiError::internal("route without {task_id}"))
    }
}

/// Matches a path against a template; Ok(None) when it does not fit, Err for a bad parameter.
pub(super) fn match_path(
    template: &str,
    segments: &[&str],
) -> Result<Option<PathParams>, ApiError> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len()
        || parts
            .iter()
            .zip(segments)
            .any(|(t, s)| !t.starts_with('{') && t != s)
    {
        return Ok(None);
    }
    let mut params = PathParams::default();
    for (part, segment) in parts.iter().zip(segments) {
        match *part {
            "{id}" => params.id = Some(id("id", segment)?),
            "{task_id}" => params.task_id = Some(id("task_id", segment)?),
            "{handler_id}" => params.handler_id = Some(id("handler_id", segment)?),
            _ => {}
        }
    }
    Ok(Some(params))
}

fn id(field: &str, segment: &str) -> Result<i64, ApiError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field}: {segment:?} is not a positive integer"))
        })
}
