//! Errors as Harbor answers them: `{"errors":[{"code":"...","message":"..."}]}`.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before trying again (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: too many failed logins; try again after `wait`.
    pub fn too_many_logins(wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait.as_secs().max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                format!(
                    "too many failed logins for this user or from this address; try again in {} s",
                    wait.as_secs().max(1)
                ),
            )
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn method_not_allowed(method: &Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here"),
        )
    }

    pub fn into_response(self) -> Response<Bytes> {
        let body = serde_json::json!({"errors": [{"code": self.code, "message": self.message}]});
        let mut response = super::json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="ferry""#),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<crate::model::ValidationError> for ApiError {
    fn from(e: crate::model::ValidationError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<crate::ports::store::StoreError> for ApiError {
    fn from(e: crate::ports::store::StoreError) -> Self {
        use crate::ports::store::StoreError as S;
        match e {
            S::NotFound { .. } => Self::not_found(e.to_string()),
            S::DuplicateName { .. } => Self::new(StatusCode::CONFLICT, "CONFLICT", e.to_string()),
            S::InUse { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                e.to_string(),
            ),
            S::Conflict { .. } => Self::new(StatusCode::CONFLICT, "CONFLICT", e.to_string()),
            S::Invalid(v) => v.into(),
            S::InvalidCursor => Self::bad_request(e.to_string()),
            S::Backend { .. } | S::Corrupt { .. } | S::Secret(_) => {
                tracing::error!(error = %e, "store failure");
                Self::internal("the store failed; see the logs with this request's id")
            }
        }
    }
}

impl From<crate::replication::registries::RegistryRefused> for ApiError {
    fn from(e: crate::replication::registries::RegistryRefused) -> Self {
        use crate::replication::registries::RegistryRefused as R;
        match e {
            R::Invalid(v) => v.into(),
            R::Store(s) => s.into(),
            R::Unsupported(_) | R::Unhealthy(_) => Self::bad_request(e.to_string()),
        }
    }
}

impl From<crate::replication::handlers::HandlerRefused> for ApiError {
    fn from(e: crate::replication::handlers::HandlerRefused) -> Self {
        use crate::replication::handlers::HandlerRefused as H;
        match e {
            H::Invalid(v) => v.into(),
            H::Store(s) => s.into(),
            H::NotFound { .. } => Self::not_found(e.to_string()),
        }
    }
}

impl From<crate::replication::policies::PolicyRefused> for ApiError {
    fn from(e: crate::replication::policies::PolicyRefused) -> Self {
        use crate::replication::policies::PolicyRefused as P;
        match e {
            P::Invalid(v) => v.into(),
            P::Store(s) => s.into(),
            P::Schedule { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "SCHEDULER_ERROR", e.to_string())
            }
            P::Running { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                e.to_string(),
            ),
            P::Overlaps { .. } => Self::new(StatusCode::CONFLICT, "CONFLICT", e.to_string()),
        }
    }
}
