//! One registry's HTTP transport (reqwest with rustls), shared by the distribution API and the
//! registry kinds' own APIs: every request goes through [`Transport::send`], which answers an
//! auth challenge, classifies the answer (connection errors, timeouts, 5xx, 408 and 429 may
//! heal; other 4xx will not) and tries again with backoff or after the registry's
//! `Retry-After`.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::auth::{Auth, Challenge};
use super::egress;
use crate::model::addresses::AddressPolicy;
use crate::model::Registry;
use crate::ports::deadline;
use crate::ports::registry::{ErrorCode, RegistryError};
use crate::telemetry::metrics::{self, On};

/// Bytes of an error answer's body read (for its error code), and characters kept for the message.
const ERROR_BODY_BYTES: usize = 4 * 1024;
const ERROR_BODY_CHARS: usize = 300;
/// The largest token service answer read.
const TOKEN_BYTES: usize = 64 * 1024;
/// The longest a request may take in all (connecting, sending, answering), unless it streams a
/// blob; and never past the invocation's deadline.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);
/// Time a retry must still have before the deadline to be worth waiting for.
const RETRY_NEEDS: Duration = Duration::from_secs(5);
/// Retries of a request that may heal, unless the wiring says otherwise.
const DEFAULT_RETRIES: usize = 6;
/// The longest wait a registry's `Retry-After` can ask for.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

pub(crate) struct Transport {
    http: reqwest::Client,
    /// The same client without following redirects, made when first needed: a redirect
    /// handed on to a client (a blob's signed storage URL).
    direct: std::sync::OnceLock<reqwest::Client>,
    tls: Tls,
    base: url::Url,
    name: String,
    auth: Auth,
    addresses: AddressPolicy,
    backoff: backon::ExponentialBuilder,
    /// The registry's request budget, shared in the process; None: unbounded.
    budget: Option<super::budget::Budget>,
    /// The registry's budget across every process (`options.budget.requests_per_second`).
    shared_rate: Option<std::sync::Arc<super::budget::SharedRate>>,
}

/// How the registry's TLS is checked, for each client made for it.
struct Tls {
    insecure: bool,
    ca_certificate: Option<reqwest::Certificate>,
}

impl Tls {
    fn client(&self, addresses: AddressPolicy, follow: bool) -> reqwest::Result<reqwest::Client> {
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(self.insecure);
        let mut builder = egress::guarded(builder, addresses);
        if !follow {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        if let Some(cert) = &self.ca_certificate {
            builder = builder.add_root_certificate(cert.clone());
        }
        builder.build()
    }
}

/// One request, as it is built again for a retry or after a challenge.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: url::Url,
    /// The path asked for, for messages.
    pub path: &'a str,
    /// The token scopes it needs, space-separated (none: empty).
    pub scope: &'a str,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Its answer streams a blob: it may take until the deadline, not only [`REQUEST_LIMIT`].
    pub streams: bool,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, url: url::Url, path: &'a str, scope: &'a str) -> Self {
        Self {
            method,
            url,
            path,
            scope,
            headers: HeaderMap::new(),
            body: None,
            streams: false,
        }
    }

    /// A call whose answer streams a blob.
    pub fn streaming(mut self) -> Self {
        self.streams = true;
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl TryInto<HeaderValue>) -> Self {
        if let Ok(value) = value.try_into() {
            self.headers.insert(name, value);
        }
        self
    }

    pub fn body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self
    }

    fn build(&self, http: &reqwest::Client) -> RequestBuilder {
        let limit = if self.streams {
            deadline::remaining()
        } else {
            Some(deadline::capped(REQUEST_LIMIT))
        };
        let request = http
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        let request = match limit {
            Some(limit) => request.timeout(limit),
            None => request,
        };
        match &self.body {
            Some(body) => request.body(body.clone()),
            None => request,
        }
    }
}

/// The method's name as messages carry it.
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// `Retry-After` as seconds or an HTTP date; capped so a registry cannot park a task for long.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value.trim())
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// Answers that may be different if asked again: 5xx, 408, 429, and a 403 that says it is a
/// rate limit (GitHub answers its limits so: `x-ratelimit-remaining: 0` or `Retry-After`).
fn may_heal(status: StatusCode, headers: &HeaderMap) -> bool {
    let rate_limited = status == StatusCode::FORBIDDEN
        && (headers.contains_key(RETRY_AFTER)
            || headers
                .get("x-ratelimit-remaining")
                .is_some_and(|v| v.as_bytes() == b"0"));
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || rate_limited
}

/// Docker Hub's pulls left (`ratelimit-remaining: 97;w=21600`), when the answer says.
fn pulls_left(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get("ratelimit-remaining")?.to_str().ok()?;
    value.split(';').next()?.trim().parse().ok()
}

impl Transport {
    /// A transport for `registry` (its credential, if any, already decrypted), retrying what
    /// may heal six times, with backoff up to 10 s, connecting only where `addresses` allows.
    pub fn new(registry: &Registry, addresses: AddressPolicy) -> Result<Self, RegistryError> {
        let invalid = |what: String| RegistryError::Invalid {
            registry: registry.name.clone(),
            what,
        };
        let mut base = url::Url::parse(&registry.url).map_err(|e| invalid(format!("url: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        addresses
            .check_url(&base)
            .map_err(|reason| invalid(format!("url {}: {reason}", registry.url)))?;
        let ca_certificate = match registry.ca_certificate.as_deref().filter(|p| !p.is_empty()) {
            Some(pem) => Some(
                reqwest::Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| invalid(format!("ca_certificate: {e}")))?,
            ),
            None => None,
        };
        let tls = Tls {
            insecure: registry.insecure,
            ca_certificate,
        };
        Ok(Self {
            http: tls
                .client(addresses, true)
                .map_err(|e| invalid(format!("http client: {e}")))?,
            direct: std::sync::OnceLock::new(),
            tls,
            name: registry.host().unwrap_or_else(|| registry.url.clone()),
            base,
            auth: Auth::new(registry),
            addresses,
            backoff: backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(DEFAULT_RETRIES)
                .with_jitter(),
            budget: None,
            shared_rate: None,
        })
    }

    /// Every request waits for `budget` first.
    pub fn with_budget(mut self, budget: Option<super::budget::Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// Every request waits for its grant of the budget every process shares too.
    pub fn with_shared_rate(
        mut self,
        rate: Option<std::sync::Arc<super::budget::SharedRate>>,
    ) -> Self {
        self.shared_rate = rate;
        self
    }

    /// Waits until the budgets allow one more request: this process's, then every process's.
    async fn spend(&self) {
        if let Some(budget) = &self.budget {
            budget.until_ready().await;
        }
        if let Some(rate) = &self.shared_rate {
            rate.spend().await;
        }
    }

    /// The origin requests go to, as budgets are kept by.
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    /// A transport to a kind's own API at `base` (Docker Hub's, GitHub's, Google's): no
    /// registry credential is attached; each call carries the API's own `Authorization`.
    pub fn api(
        registry: &Registry,
        base: &str,
        addresses: AddressPolicy,
    ) -> Result<Self, RegistryError> {
        let at_base = Registry {
            url: base.to_string(),
            credential: None,
            ..registry.clone()
        };
        let mut transport = Self::new(&at_base, addresses)?;
        transport.auth = Auth::anonymous();
        Ok(transport)
    }

    /// The registry's Basic credential minted by `login` rather than taken as given.
    pub fn with_login(mut self, login: std::sync::Arc<dyn super::auth::Login>) -> Self {
        self.auth = self.auth.with_login(login);
        self
    }

    /// Retries of a request that may heal.
    pub fn with_retries(mut self, retries: usize) -> Self {
        self.backoff = self.backoff.with_max_times(retries);
        self
    }

    /// The registry's host, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `path` under the registry's URL; an absolute URL (a `Location`) stays as it is.
    pub fn url(&self, path: &str) -> Result<url::Url, RegistryError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| self.invalid(format!("path {path}: {e}")))
    }

    /// `path` under the registry's URL, refused when joining it would leave the registry's
    /// origin (`/https://elsewhere/x` read as a URL): a path handler is on the registry.
    pub fn home_url(&self, path: &str) -> Result<url::Url, RegistryError> {
        let url = self.url(path)?;
        if self.is_home(&url) {
            Ok(url)
        } else {
            Err(self.invalid(format!(
                "path {path}: it leaves the registry's origin ({url})"
            )))
        }
    }

    pub fn invalid(&self, what: String) -> RegistryError {
        RegistryError::Invalid {
            registry: self.name.clone(),
            what,
        }
    }

    /// A failure that may heal, said with its causes (a timeout, a reset, a refused
    /// connection), not only the outermost error.
    pub fn transient(
        &self,
        method: &'static str,
        path: &str,
        error: impl std::error::Error,
    ) -> RegistryError {
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(inner) = cause {
            message.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        RegistryError::Transient {
            registry: self.name.clone(),
            method,
            path: path.to_string(),
            message,
            retry_after: None,
        }
    }

    /// Sends `call` and reads the answer with `read`, again while either fails in a way that
    /// may heal: exponential backoff with jitter, or the registry's own `Retry-After`; never
    /// waiting past the invocation's deadline (the error is the answer then).
    pub async fn send<T, F, Fut>(&self, call: &Call<'_>, read: F) -> Result<T, RegistryError>
    where
        F: Fn(Response) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        self.retrying(|| async { read(self.attempt(call).await?).await })
            .await
    }

    /// [`Self::send`] with the call built anew for every attempt: a signed API call carries
    /// its time and nonce, which a retry must not replay.
    pub async fn send_built<'c, T, B, F, Fut>(&self, build: B, read: F) -> Result<T, RegistryError>
    where
        B: Fn() -> Result<Call<'c>, RegistryError>,
        F: Fn(Response) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        self.retrying(|| async { read(self.attempt(&build()?).await?).await })
            .await
    }

    /// `attempt` again while it fails in a way that may heal, as [`Self::send`] says.
    async fn retrying<T, A, AFut>(&self, attempt: A) -> Result<T, RegistryError>
    where
        A: FnMut() -> AFut,
        AFut: Future<Output = Result<T, RegistryError>>,
    {
        use backon::Retryable;
        attempt
            .retry(self.backoff)
            .when(RegistryError::is_transient)
            .adjust(|error: &RegistryError, delay: Option<Duration>| {
                delay
                    .map(|d| error.retry_after().unwrap_or(d))
                    .filter(|wait| deadline::allows(*wait, RETRY_NEEDS))
            })
            .notify(|error: &RegistryError, delay: Duration| {
                metrics::count(
                    metrics::REGISTRY_RETRIES,
                    On::Registry(self.name.clone()),
                    1,
                );
                tracing::warn!(error = %error, ?delay, "retrying");
            })
            .await
    }

    /// A request in the metrics, by the class of its answer (none: it could not be sent).
    fn counted(&self, status: Option<StatusCode>) {
        let class = status.map_or("error", |s| metrics::status_class(s.as_u16()));
        let answer = On::RegistryAnswer(self.name.clone(), class);
        metrics::count(metrics::REGISTRY_REQUESTS, answer, 1);
        if status == Some(StatusCode::TOO_MANY_REQUESTS) {
            metrics::count(
                metrics::REGISTRY_THROTTLED,
                On::Registry(self.name.clone()),
                1,
            );
        }
    }

    /// Whether `url` is on the registry's own origin (scheme, host and port): only there do
    /// requests carry its credential or a token obtained with it.
    fn is_home(&self, url: &url::Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// Refuses a URL the registry handed back (a `Location`, a `Link`) whose host is an
    /// address Ferry does not connect to; names are checked when they are resolved.
    fn check_address(&self, url: &url::Url) -> Result<(), RegistryError> {
        self.addresses
            .check_url(url)
            .map_err(|reason| self.invalid(format!("{url}: {reason}")))
    }

    /// A request that could not be sent: refused by the address guard (will not heal), or
    /// failed on the way (may heal).
    fn send_failed(
        &self,
        method: &'static str,
        path: &str,
        error: reqwest::Error,
    ) -> RegistryError {
        match egress::refusal_in(&error) {
            Some(refusal) => self.invalid(format!("{method} {path}: {refusal}")),
            None => self.transient(method, path, error),
        }
    }

    /// One attempt, not retried: an auth challenge is answered once with a token for the
    /// call's scope; an answer that may heal is an error, every other answer is the caller's.
    /// A URL off the registry's origin is sent without any credential and its challenges are
    /// not answered.
    pub async fn attempt(&self, call: &Call<'_>) -> Result<Response, RegistryError> {
        let response = self.exchange(call).await?;
        if may_heal(response.status(), response.headers()) {
            let method = method_name(&call.method);
            return Err(self.unexpected(method, call.path, response).await);
        }
        Ok(response)
    }

    /// One attempt as [`Self::attempt`] makes it, with whatever answer comes back: a caller
    /// that decides by the status itself (a handler's abort codes may be 5xx).
    pub async fn exchange(&self, call: &Call<'_>) -> Result<Response, RegistryError> {
        self.exchange_with(&self.http, call).await
    }

    /// [`Self::send`] without following a redirect: a `3xx` is the answer, for the caller to
    /// hand on (the credential never goes where it points).
    pub async fn send_unredirected<T, F, Fut>(
        &self,
        call: &Call<'_>,
        read: F,
    ) -> Result<T, RegistryError>
    where
        F: Fn(Response) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let direct = match self.direct.get() {
            Some(client) => client,
            None => {
                let client = self
                    .tls
                    .client(self.addresses, false)
                    .map_err(|e| self.invalid(format!("http client: {e}")))?;
                self.direct.get_or_init(|| client)
            }
        };
        self.retrying(|| async {
            let response = self.exchange_with(direct, call).await?;
            if may_heal(response.status(), response.headers()) {
                let method = method_name(&call.method);
                return Err(self.unexpected(method, call.path, response).await);
            }
            read(response).await
        })
        .await
    }

    async fn exchange_with(
        &self,
        http: &reqwest::Client,
        call: &Call<'_>,
    ) -> Result<Response, RegistryError> {
        let method = method_name(&call.method);
        self.check_address(&call.url)?;
        let home = self.is_home(&call.url);
        let request = call.build(http);
        let sent = std::time::Instant::now();
        let cached = if home {
            self.auth.cached(call.scope).await
        } else {
            None
        };
        let request = if home {
            self.auth.authorize(request, cached.as_deref()).await?
        } else {
            request
        };
        self.spend().await;
        let mut response = request.send().await.map_err(|e| {
            self.counted(None);
            self.send_failed(method, call.path, e)
        })?;
        // A challenge is answered only from the registry's own origin: a redirect elsewhere
        // that answers 401 must not get the registry's credential sent to a realm it names.
        if home && self.is_home(response.url()) && response.status() == StatusCode::UNAUTHORIZED {
            let retry = match Challenge::of(response.headers()) {
                Some(challenge) => {
                    let token = self.token(&challenge, call.scope).await?;
                    self.auth.remember(call.scope, token.clone()).await;
                    Some(Some(token))
                }
                // Refused a minted Basic credential: it expired early, or was revoked.
                None if self.auth.is_minted() && cached.is_none() => {
                    self.auth.forget_login().await;
                    Some(None)
                }
                None => None,
            };
            if let Some(token) = retry {
                self.counted(Some(response.status()));
                self.spend().await;
                response = self
                    .auth
                    .authorize(call.build(http), token.as_deref())
                    .await?
                    .send()
                    .await
                    .map_err(|e| {
                        self.counted(None);
                        self.send_failed(method, call.path, e)
                    })?;
            }
        }
        self.counted(Some(response.status()));
        // Where a task's time goes, request by request (RUST_LOG=ferry::adapters::registry=debug).
        tracing::debug!(
            registry = %self.name,
            method,
            path = call.path,
            status = response.status().as_u16(),
            ms = sent.elapsed().as_millis() as u64,
            "registry request"
        );
        if let Some(left) = pulls_left(response.headers()).filter(|left| *left < 10) {
            tracing::warn!(registry = %self.name, left, "the registry's pull limit is nearly spent");
        }
        Ok(response)
    }

    /// The start of an answer's body as text, for a message.
    pub async fn body_start(response: Response) -> String {
        let body = read_start(response, ERROR_BODY_BYTES).await;
        String::from_utf8_lossy(&body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect()
    }

    /// Whether the registry's credential may go to a token `realm`: over https, or on the
    /// registry's own origin. A realm on a refused address, or plain http for an https
    /// registry, is refused whatever the credential.
    fn realm_url(&self, realm: &str) -> Result<url::Url, RegistryError> {
        let refused = |why: String| self.invalid(format!("token realm {realm} {why}"));
        let url = url::Url::parse(realm).map_err(|e| refused(format!("is not a URL: {e}")))?;
        if !["http", "https"].contains(&url.scheme()) {
            return Err(refused("is not http or https".into()));
        }
        self.addresses.check_url(&url).map_err(refused)?;
        let https = url.scheme() == "https";
        if !https && self.base.scheme() == "https" {
            return Err(refused(
                "is plain http for an https registry; Ferry asks for tokens over https".into(),
            ));
        }
        if !https && !self.is_home(&url) && self.auth.has_credential() {
            return Err(refused(format!(
                "is plain http on another origin than the registry ({}); Ferry sends a \
                 registry's credential to a token realm only over https or on the registry's \
                 own origin",
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    async fn token(&self, challenge: &Challenge, scope: &str) -> Result<String, RegistryError> {
        match self.token_once(challenge, scope).await {
            // A minted credential the token service refused is minted again, once.
            Err(RegistryError::Refused { status: 401, .. }) if self.auth.is_minted() => {
                self.auth.forget_login().await;
                self.token_once(challenge, scope).await
            }
            other => other,
        }
    }

    async fn token_once(
        &self,
        challenge: &Challenge,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let realm = &challenge.realm;
        let realm_url = self.realm_url(realm)?;
        self.spend().await;
        let response = self
            .auth
            .authorize(
                self.http
                    .get(realm_url)
                    .query(&challenge.query(scope))
                    .timeout(deadline::capped(REQUEST_LIMIT)),
                None,
            )
            .await?
            .send()
            .await
            .map_err(|e| self.send_failed("GET", realm, e))?;
        if !response.status().is_success() {
            return Err(self.unexpected("GET", realm, response).await);
        }
        let body = self
            .read_capped("GET", realm, response, TOKEN_BYTES, "token answer")
            .await?;
        Auth::token_of(&body)
            .ok_or_else(|| self.invalid(format!("token service {realm} answered without a token")))
    }

    /// One attempt with a body that streams once, so it is neither retried nor replayed after a
    /// challenge: the token the earlier requests of the same scope obtained is used as it is
    /// (on the registry's origin only).
    pub async fn send_once(
        &self,
        method: Method,
        url: url::Url,
        path: &str,
        scope: &str,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Result<Response, RegistryError> {
        let name = method_name(&method);
        self.check_address(&url)?;
        let home = self.is_home(&url);
        let request = self.http.request(method, url).headers(headers).body(body);
        // A streamed body may take until the deadline, and no longer.
        let request = match deadline::remaining() {
            Some(left) => request.timeout(left),
            None => request,
        };
        let request = if home {
            let token = self.auth.cached(scope).await;
            self.auth.authorize(request, token.as_deref()).await?
        } else {
            request
        };
        self.spend().await;
        request
            .send()
            .await
            .map_err(|e| self.send_failed(name, path, e))
    }

    /// The whole body, read as it streams and refused as soon as it passes `cap` bytes (or
    /// announces more): a registry cannot make Ferry buffer what it likes.
    pub async fn read_capped(
        &self,
        method: &'static str,
        path: &str,
        response: Response,
        cap: usize,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        let too_large = |size: String| {
            self.invalid(format!(
                "{method} {path}: the {what} is {size} bytes, over the {cap} byte limit"
            ))
        };
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = announced.filter(|l| *l > cap as u64) {
            return Err(too_large(length.to_string()));
        }
        let mut body = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| self.transient(method, path, e))?;
            if body.len() + piece.len() > cap {
                return Err(too_large(format!("over {}", body.len() + piece.len())));
            }
            body.extend_from_slice(&piece);
        }
        Ok(body.freeze())
    }

    /// A JSON body of at most `cap` bytes.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        response: Response,
        cap: usize,
        what: &str,
    ) -> Result<T, RegistryError> {
        let body = self.read_capped(method, path, response, cap, what).await?;
        serde_json::from_slice(&body).map_err(|e| {
            self.invalid(format!(
                "{method} {path}: the {what} is not what the API answers: {e}"
            ))
        })
    }

    /// The error for an answer the caller did not expect: may heal (5xx, 408, 429, with the
    /// registry's `Retry-After`) or not (the other statuses), with its error code and the start
    /// of its body (only the first few KiB are read).
    pub async fn unexpected(
        &self,
        method: &'static str,
        path: &str,
        response: Response,
    ) -> RegistryError {
        let status = response.status();
        let heals = may_heal(status, response.headers());
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_start(response, ERROR_BODY_BYTES).await;
        let message: String = String::from_utf8_lossy(&body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        if heals {
            RegistryError::Transient {
                registry: self.name.clone(),
                method,
                path: path.to_string(),
                message: format!("{status}: {message}"),
                retry_after,
            }
        } else {
            RegistryError::Refused {
                registry: self.name.clone(),
                method,
                path: path.to_string(),
                status: status.as_u16(),
                code: error_code(&body),
                message: if message.is_empty() {
                    status.canonical_reason().unwrap_or_default().to_string()
                } else {
                    message
                },
            }
        }
    }
}

/// The first `cap` bytes of a body, whatever follows (or however the read ends).
async fn read_start(response: Response, cap: usize) -> Vec<u8> {
    let mut start = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(piece)) = stream.next().await {
        let room = cap - start.len();
        start.extend_from_slice(&piece[..piece.len().min(room)]);
        if start.len() == cap {
            break;
        }
    }
    start
}

/// The first error code of a distribution error body: `{"errors":[{"code":"...",...}]}`.
fn error_code(body: &[u8]) -> Option<ErrorCode> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: String,
    }
    let errors: Errors = serde_json::from_slice(body).ok()?;
    errors.errors.first().map(|e| ErrorCode::of(&e.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_body() {
        let body = br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:..."}]}"#;
        assert_eq!(error_code(body), Some(ErrorCode::ManifestBlobUnknown));
        assert_eq!(
            error_code(br#"{"errors":[{"code":"WHATEVER"}]}"#),
            Some(ErrorCode::Other)
        );
        assert_eq!(error_code(b"<html>bad gateway</html>"), None);
        assert_eq!(error_code(b""), None);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_capped() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("86400"), Some(RETRY_AFTER_MAX));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}

#[cfg(test)]
mod realm_tests {
    use super::*;
    use crate::model::{Credential, CredentialType};

    fn transport(url: &str, credential: bool) -> Transport {
        let registry = Registry {
            name: "r".into(),
            url: url.into(),
            credential: credential.then(|| Credential {
                kind: CredentialType::Basic,
                access_key: "user".into(),
                access_secret: Some("secret".into()),
            }),
            ..Registry::default()
        };
        Transport::new(&registry, AddressPolicy::allowing_private(true)).expect("transport")
    }

    #[test]
    fn credentials_go_to_a_token_realm_only_over_https_or_at_home() {
        let https = transport("https://registry.example", true);
        assert!(https.realm_url("https://auth.example/token").is_ok());
        let refused = https
            .realm_url("http://auth.example/token")
            .expect_err("downgrade")
            .to_string();
        assert!(refused.contains("http://auth.example/token"), "{refused}");
        let metadata = https
            .realm_url("https://169.254.169.254/token")
            .expect_err("metadata")
            .to_string();
        assert!(metadata.contains("169.254.169.254"), "{metadata}");
        assert!(https.realm_url("file:///etc/passwd").is_err());

        let http = transport("http://127.0.0.1:5000", true);
        assert!(
            http.realm_url("http://127.0.0.1:5000/token").is_ok(),
            "home"
        );
        let elsewhere = http
            .realm_url("http://127.0.0.1:5001/token")
            .expect_err("another origin")
            .to_string();
        assert!(
            elsewhere.contains("http://127.0.0.1:5001/token"),
            "{elsewhere}"
        );
        let anonymous = transport("http://127.0.0.1:5000", false);
        assert!(anonymous.realm_url("http://127.0.0.1:5001/token").is_ok());
    }

    #[test]
    fn a_path_that_reads_as_another_origin_is_refused() {
        let t = transport("http://127.0.0.1:5000/prefix", true);
        assert_eq!(
            t.home_url("/v2/manage/namespaces")
                .map(|u| u.to_string())
                .ok(),
            Some("http://127.0.0.1:5000/prefix/v2/manage/namespaces".to_string())
        );
        // Leading slashes are trimmed before the join, so `//host/x` stays a path.
        assert_eq!(
            t.home_url("//evil.example/x").map(|u| u.to_string()).ok(),
            Some("http://127.0.0.1:5000/prefix/evil.example/x".to_string())
        );
        for path in ["/https://evil.example/x", "http://127.0.0.1:5001/x"] {
            assert!(
                matches!(t.home_url(path), Err(RegistryError::Invalid { .. })),
                "{path}"
            );
        }
    }

    #[test]
    fn a_registry_url_on_a_refused_address_gets_no_client() {
        let registry = Registry {
            name: "r".into(),
            url: "http://169.254.169.254".into(),
            ..Registry::default()
        };
        assert!(Transport::new(&registry, AddressPolicy::allowing_private(true)).is_err());
        let loopback = Registry {
            url: "http://127.0.0.1:5000".into(),
            ..registry
        };
        assert!(Transport::new(&loopback, AddressPolicy::default()).is_err());
        assert!(Transport::new(&loopback, AddressPolicy::allowing_private(true)).is_ok());
    }
}
