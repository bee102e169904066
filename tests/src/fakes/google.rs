//! Google Artifact Registry with Google's OAuth, in front of a distribution registry: a
//! service account's key signs a JWT that `/token` trades for an access token; the registry's
//! token service (`/v2/token`) takes the key itself (`_json_key`) or an access token
//! (`oauth2accesstoken`); pushes need an Artifact Registry repository, which the REST API
//! (`/v1/projects/...`) gets and creates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{
    basic_of, bearer_of, challenge, field, form_of, json, new_token, pass_through,
    repository_scope, scopes_cover, scopes_in, Calls,
};

/// The service account's private key (a test key made for these tests; see tests/fixtures).
pub const PRIVATE_KEY_PEM: &str = include_str!("../../fixtures/google-service-account.pem");
const PUBLIC_KEY_PEM: &str = include_str!("../../fixtures/google-service-account.pub.pem");
const KEY_ID: &str = "test-key-1";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

pub struct FakeGoogle {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    url: String,
    service: String,
    upstream: String,
    project: String,
    location: String,
    client_email: String,
    key_json: String,
    http: reqwest::Client,
    calls: Calls,
    state: Mutex<Google>,
}

struct Google {
    /// Artifact Registry repositories and their creation times.
    repositories: BTreeMap<String, String>,
    deny_create: bool,
    lifetime: u64,
    /// OAuth access tokens and when they were minted.
    access: HashMap<String, Instant>,
    minted: usize,
    /// Registry tokens and the scopes they grant.
    registry: HashMap<String, Vec<String>>,
    operations: HashMap<String, Value>,
}

impl FakeGoogle {
    pub async fn start(upstream: &str, project: &str, location: &str) -> Self {
        let mut shared = None;
        let (url, task) = super::serve(|url| {
            let client_email = format!("ferry@{project}.iam.gserviceaccount.com");
            let key_json = json!({
                "type": "service_account", "project_id": project, "private_key_id": KEY_ID,
                "private_key": PRIVATE_KEY_PEM, "client_email": client_email, "client_id": "1",
                "token_uri": format!("{url}/token"), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            });
            let state = Arc::new(Shared {
                url: url.to_string(),
                service: url.trim_start_matches("http://").to_string(),
                upstream: upstream.trim_end_matches('/').to_string(),
                project: project.to_string(),
                location: location.to_string(),
                client_email,
                key_json: key_json.to_string(),
                http: reqwest::Client::new(),
                calls: Calls::default(),
                state: Mutex::new(Google {
                    repositories: BTreeMap::new(),
                    deny_create: false,
                    lifetime: 3600,
                    access: HashMap::new(),
                    minted: 0,
                    registry: HashMap::new(),
                    operations: HashMap::new(),
                }),
            });
            shared = Some(state.clone());
            axum::Router::new().fallback(handle).with_state(state)
        })
        .await;
        let shared = shared.expect("state");
        Self { url, shared, task }
    }

    /// The base URL of the token endpoint, the registry and the REST API alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn calls(&self) -> Calls {
        self.shared.calls.clone()
    }

    /// The service account's key file, as the console downloads it.
    pub fn key_json(&self) -> String {
        self.shared.key_json.clone()
    }

    /// An Artifact Registry repository (format DOCKER) in the project and location.
    pub fn add_repository(&self, repo: &str) {
        self.with(|g| {
            g.repositories
                .insert(repo.to_string(), super::now_rfc3339());
        });
    }

    pub fn repositories(&self) -> Vec<String> {
        self.with(|g| g.repositories.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The service account may not create repositories.
    pub fn deny_create(&self) {
        self.with(|g| g.deny_create = true);
    }

    /// Access tokens older than `secs` are refused (3600 by default).
    pub fn set_token_lifetime(&self, secs: u64) {
        self.with(|g| g.lifetime = secs);
    }

    pub fn tokens_minted(&self) -> usize {
        self.with(|g| g.minted).unwrap_or_default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Google) -> T) -> Option<T> {
        self.shared.state.lock().ok().map(|mut g| f(&mut g))
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request<Body>) -> Response<Body> {
    shared.calls.record(&request);
    let path = request.uri().path().to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::POST, "/token") => match form_of(request).await {
            Some(form) => grant(&shared, &form),
            None => oauth_error("invalid_request", "a form body is expected"),
        },
        (Method::GET, "/v2/token") => registry_token(&shared, &request),
        (_, p) if p == "/v2" || p.starts_with("/v2/") => registry(&shared, request).await,
        (_, p) if p.starts_with("/v1/") => artifact_registry(&shared, request).await,
        _ => api_error(StatusCode::NOT_FOUND, "Not Found", "NOT_FOUND"),
    }
}

fn oauth_error(error: &str, description: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": description}),
    )
}

fn api_error(status: StatusCode, message: &str, code: &str) -> Response<Body> {
    json(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "status": code}}),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `POST /token`, the JWT bearer grant of a service account
/// (https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
fn grant(shared: &Shared, form: &[(String, String)]) -> Response<Body> {
    if field(form, "grant_type") != Some(JWT_BEARER) {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = field(form, "assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    if let Err(why) = verify(shared, assertion) {
        return oauth_error("invalid_grant", &why);
    }
    let token = format!("ya29.{}", new_token("fake"));
    let lifetime = match shared.state.lock() {
        Ok(mut g) => {
            g.access.insert(token.clone(), Instant::now());
            g.minted += 1;
            g.lifetime
        }
        Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned", "INTERNAL"),
    };
    json(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
    )
}

fn verify(shared: &Shared, assertion: &str) -> Result<(), String> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY_PEM.as_bytes()).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = decode::<Value>(assertion, &key, &validation)
        .map_err(|e| format!("Invalid JWT Signature. ({e})"))?;
    if data.header.kid.as_deref().is_some_and(|kid| kid != KEY_ID) {
        return Err("Invalid JWT Signature.".into());
    }
    let claims = data.claims;
    if claims["iss"] != shared.client_email.as_str() {
        return Err("Invalid grant: account not found".into());
    }
    if claims["aud"] != format!("{}/token", shared.url).as_str() {
        return Err("Invalid JWT: Failed audience check.".into());
    }
    let scope = claims["scope"].as_str().unwrap_or_default();
    if !scope.split(' ').any(|s| s == CLOUD_PLATFORM) {
        return Err("Invalid OAuth scope or ID token audience provided.".into());
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("Invalid JWT: iat and exp are required.".into());
    };
    let now = now();
    if iat > now + 60 || exp <= now || exp - iat > 3600 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    Ok(())
}

/// Whether an access token works now: Some(true), expired: Some(false), unknown: None.
fn access_ok(shared: &Shared, token: &str) -> Option<bool> {
    let g = shared.state.lock().ok()?;
    let minted = g.access.get(token)?;
    Some(minted.elapsed().as_secs_f64() < g.lifetime as f64)
}

fn unauthorized(message: &str) -> Response<Body> {
    json(
        StatusCode::UNAUTHORIZED,
        &json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}),
    )
}

/// `GET /v2/token?service=&scope=` with Basic `_json_key:<key file>` (or `_json_key_base64`) or
/// `oauth2accesstoken:<access token>`
/// (https://cloud.google.com/artifact-registry/docs/docker/authentication).
fn registry_token(shared: &Shared, request: &Request<Body>) -> Response<Body> {
    use base64::Engine;
    let admitted = match basic_of(request) {
        Some((user, key)) if user == "_json_key" => key == shared.key_json,
        Some((user, key)) if user == "_json_key_base64" => {
            base64::engine::general_purpose::STANDARD
                .decode(key.trim())
                .is_ok_and(|k| k == shared.key_json.as_bytes())
        }
        Some((user, token)) if user == "oauth2accesstoken" => match access_ok(shared, &token) {
            Some(true) => true,
            Some(false) => return unauthorized("token expired"),
            None => false,
        },
        _ => false,
    };
    if !admitted {
        return unauthorized("invalid credentials");
    }
    let token = new_token("gar");
    let scopes = scopes_in(request.uri().query().unwrap_or_default());
    if let Ok(mut g) = shared.state.lock() {
        g.registry.insert(token.clone(), scopes);
    }
    json(StatusCode::OK, &json!({"token": token, "expires_in": 3600}))
}

/// The registry behind the token gate
/// (https://cloud.google.com/artifact-registry/docs/docker/authentication); a push needs its
/// Artifact Registry repository, `<project>/<repository>/<image>`
/// (https://cloud.google.com/artifact-registry/docs/docker/pushing-and-pulling).
async fn registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let admitted = bearer_of(&request)
        .and_then(|t| shared.state.lock().ok()?.registry.get(&t).cloned())
        .is_some_and(|scopes| scopes_cover(&scopes, &request));
    if !admitted {
        return challenge(
            &request,
            &format!("{}/v2/token", shared.url),
            &shared.service,
        );
    }
    let path = request.uri().path();
    let push = (request.method() == Method::POST && path.contains("/blobs/uploads"))
        || (request.method() == Method::PUT && path.contains("/manifests/"));
    if let Some((name, _)) = repository_scope(&request).filter(|_| push) {
        let parts: Vec<&str> = name.splitn(3, '/').collect();
        let repo = parts.get(1).copied().unwrap_or(name.as_str());
        let exists = parts.len() == 3
            && parts[0] == shared.project
            && shared
                .state
                .lock()
                .is_ok_and(|g| g.repositories.contains_key(repo));
        if !exists {
            return json(
                StatusCode::NOT_FOUND,
                &json!({"errors": [{"code": "NAME_UNKNOWN", "message": format!("Repository \"{repo}\" not found")}]}),
            );
        }
    }
    pass_through(&shared.http, &shared.upstream, request).await
}

fn repository_json(shared: &Shared, id: &str, created: &str) -> Value {
    json!({
        "name": format!("projects/{}/locations/{}/repositories/{id}", shared.project, shared.location),
        "format": "DOCKER", "mode": "STANDARD_REPOSITORY", "createTime": created, "updateTime": created,
    })
}

fn valid_repository_id(id: &str) -> bool {
    id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Artifact Registry's REST API: repositories' get, list and create
/// (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories)
/// and operations' get
/// (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.operations).
async fn artifact_registry(shared: &Shared, request: Request<Body>) -> Response<Body> {
    if bearer_of(&request).and_then(|t| access_ok(shared, &t)) != Some(true) {
        return api_error(StatusCode::UNAUTHORIZED, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "UNAUTHENTICATED");
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let segments: Vec<&str> = parts.uri.path().split('/').skip(2).collect();
    let ["projects", project, "locations", location, rest @ ..] = segments.as_slice() else {
        return api_error(StatusCode::NOT_FOUND, "Not Found", "NOT_FOUND");
    };
    let ours = *project == shared.project && *location == shared.location;
    let not_found = || {
        api_error(
            StatusCode::NOT_FOUND,
            "Requested entity was not found.",
            "NOT_FOUND",
        )
    };
    let Ok(mut g) = shared.state.lock() else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned", "INTERNAL");
    };
    match (&parts.method, rest) {
        (&Method::GET, ["repositories", id]) => match g.repositories.get(*id).filter(|_| ours) {
            Some(created) => json(StatusCode::OK, &repository_json(shared, id, created)),
            None => not_found(),
        },
        (&Method::GET, ["repositories"]) if ours => {
            let all: Vec<Value> = g
                .repositories
                .iter()
                .map(|(id, created)| repository_json(shared, id, created))
                .collect();
            json(StatusCode::OK, &json!({"repositories": all}))
        }
        (&Method::GET, ["operations", id]) => match g.operations.get(*id).filter(|_| ours) {
            Some(operation) => json(StatusCode::OK, operation),
            None => not_found(),
        },
        (&Method::POST, ["repositories"]) => {
            if !ours || g.deny_create {
                let message = format!("Permission 'artifactregistry.repositories.create' denied on resource '//artifactregistry.googleapis.com/projects/{project}/locations/{location}' (or it may not exist).");
                return api_error(StatusCode::FORBIDDEN, &message, "PERMISSION_DENIED");
            }
            let invalid = |m: &str| api_error(StatusCode::BAD_REQUEST, m, "INVALID_ARGUMENT");
            let query = super::query_pairs(parts.uri.query());
            let Some(id) = field(&query, "repositoryId").map(String::from) else {
                return invalid("repositoryId is required");
            };
            if !valid_repository_id(&id) {
                return invalid("Invalid repository id");
            }
            let body: Option<Value> = serde_json::from_slice(&body).ok();
            if body.is_none_or(|b| b["format"] != "DOCKER") {
                return invalid("Repository format must be DOCKER");
            }
            if g.repositories.contains_key(&id) {
                return api_error(
                    StatusCode::CONFLICT,
                    "the repository already exists",
                    "ALREADY_EXISTS",
                );
            }
            let created = super::now_rfc3339();
            let mut repository = repository_json(shared, &id, &created);
            repository["@type"] =
                json!("type.googleapis.com/google.devtools.artifactregistry.v1.Repository");
            let operation_id = uuid::Uuid::new_v4().to_string();
            let operation = json!({
                "name": format!("projects/{project}/locations/{location}/operations/{operation_id}"),
                "metadata": {"@type": "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata"},
                "done": true,
                "response": repository,
            });
            g.repositories.insert(id, created);
            g.operations.insert(operation_id, operation.clone());
            json(StatusCode::OK, &operation)
        }
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests;
