//! What an AWS request asks of IAM: the actions and resource ARNs the service authorizes it
//! by, read from the request as the service reads it. DynamoDB (JSON: a batch or transaction
//! is authorized per table and per item), SQS (JSON, and the query protocol of older SDKs) and
//! S3 (REST, path-style addressing as the functions' client uses against an emulator). Other
//! services (KMS, Scheduler, Secrets Manager) are not worked out: their requests pass
//! unchecked.

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;

use crate::iam::Access;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} names no operation")]
    NoOperation(&'static str),
}

/// The protocols whose requests are worked out; their denials are answered in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    DynamoDb,
    SqsJson,
    SqsQuery,
    S3,
}

const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";
const SQS_TARGET: &str = "AmazonSQS.";

impl Protocol {
    /// None for a service that is not checked.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        if let Some(target) = header(headers, "x-amz-target") {
            return if target.starts_with(DYNAMODB_TARGET) {
                Some(Self::DynamoDb)
            } else if target.starts_with(SQS_TARGET) {
                Some(Self::SqsJson)
            } else {
                None
            };
        }
        match signing_service(headers)?.as_str() {
            "sqs" => Some(Self::SqsQuery),
            "s3" => Some(Self::S3),
            _ => None,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The service a request is for, by its signing name (`dynamodb`, `sqs`, `s3`, `kms`): from
/// the SigV4 credential scope, or for an unsigned JSON request its `X-Amz-Target`.
pub fn signing_service(headers: &HeaderMap) -> Option<String> {
    if let Some(scope) = header(headers, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|rest| rest.split([',', ' ']).next())
    {
        // <key id>/<date>/<region>/<service>/aws4_request
        if let Some(service) = scope.split('/').nth(3) {
            return Some(service.to_string());
        }
    }
    let target = header(headers, "x-amz-target")?;
    Some(
        match target.split('.').next().unwrap_or_default() {
            t if t.starts_with("DynamoDB_") => "dynamodb",
            "AmazonSQS" => "sqs",
            "TrentService" => "kms",
            "secretsmanager" => "secretsmanager",
            other => return Some(other.to_ascii_lowercase()),
        }
        .to_string(),
    )
}

/// The app name in the SDK's user agent (`app/ferry-transfer`): which function is calling.
pub fn app_name(headers: &HeaderMap) -> Option<&str> {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|name| header(headers, name))
        .flat_map(str::split_whitespace)
        .find_map(|token| token.strip_prefix("app/"))
}

/// Where ARNs are made: the stack's region and account.
#[derive(Debug, Clone)]
pub struct ArnScope {
    pub region: String,
    pub account: String,
}

/// The parts of a request its accesses are read from.
pub struct AwsRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The accesses IAM must allow for the request to go through.
pub fn accesses(
    protocol: Protocol,
    request: &AwsRequest<'_>,
    scope: &ArnScope,
) -> Result<Vec<Access>, RequestError> {
    match protocol {
        Protocol::DynamoDb => {
            let operation = header(request.headers, "x-amz-target")
                .and_then(|t| t.strip_prefix(DYNAMODB_TARGET))
                .ok_or(RequestError::NoOperation("X-Amz-Target"))?;
            dynamodb(operation, &serde_json::from_slice(request.body)?, scope)
        }
        Protocol::SqsJson => {
            let operation = header(request.headers, "x-amz-target")
                .and_then(|t| t.strip_prefix(SQS_TARGET))
                .ok_or(RequestError::NoOperation("X-Amz-Target"))?;
            let body: Value = serde_json::from_slice(request.body)?;
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
            Ok(vec![sqs(
                operation,
                field("QueueUrl"),
                field("QueueName"),
                scope,
            )])
        }
        Protocol::SqsQuery => {
            let mut form: Vec<(String, String)> = url::form_urlencoded::parse(request.body)
                .chain(url::form_urlencoded::parse(
                    request.uri.query().unwrap_or_default().as_bytes(),
                ))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut take = |name: &str| {
                let at = form.iter().position(|(k, _)| k == name)?;
                Some(form.swap_remove(at).1)
            };
            let operation = take("Action").ok_or(RequestError::NoOperation("Action"))?;
            // The oldest form posts to the queue's URL itself.
            let path = request.uri.path().trim_matches('/');
            let queue_url = take("QueueUrl").or_else(|| (!path.is_empty()).then(|| path.into()));
            Ok(vec![sqs(&operation, queue_url, take("QueueName"), scope)])
        }
        Protocol::S3 => Ok(s3(request)),
    }
}

fn dynamodb(operation: &str, body: &Value, scope: &ArnScope) -> Result<Vec<Access>, RequestError> {
    let table = |name: &str| {
        if name.starts_with("arn:") {
            name.to_string()
        } else {
            format!(
                "arn:aws:dynamodb:{}:{}:table/{name}",
                scope.region, scope.account
            )
        }
    };
    let name_in = |v: &Value| v.get("TableName").and_then(Value::as_str).map(table);
    let action = |op: &str| format!("dynamodb:{op}");
    let mut out = Vec::new();
    match operation {
        "BatchGetItem" | "BatchWriteItem" => {
            if let Some(Value::Object(items)) = body.get("RequestItems") {
                for name in items.keys() {
                    out.push(Access::new(action(operation), table(name)));
                }
            }
        }
        "TransactWriteItems" | "TransactGetItems" => {
            const KINDS: [(&str, &str); 5] = [
                ("Put", "PutItem"),
                ("Update", "UpdateItem"),
                ("Delete", "DeleteItem"),
                ("ConditionCheck", "ConditionCheckItem"),
                ("Get", "GetItem"),
            ];
            let items = body.get("TransactItems").and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                for (kind, op) in KINDS {
                    if let Some(arn) = item.get(kind).and_then(name_in) {
                        out.push(Access::new(action(op), arn));
                    }
                }
            }
        }
        _ => {
            let resource = match (name_in(body), body.get("IndexName").and_then(Value::as_str)) {
                (Some(arn), Some(index)) => format!("{arn}/index/{index}"),
                (Some(arn), None) => arn,
                (None, _) => "*".to_string(),
            };
            out.push(Access::new(action(operation), resource));
        }
    }
    Ok(out)
}

fn sqs(
    operation: &str,
    queue_url: Option<String>,
    queue_name: Option<String>,
    scope: &ArnScope,
) -> Access {
    // A batch is authorized as its single form.
    let action = operation.strip_suffix("Batch").unwrap_or(operation);
    let name = queue_url
        .as_deref()
        .and_then(|url| url.trim_end_matches('/').rsplit('/').next())
        .map(str::to_string)
        .or(queue_name);
    let resource = match name {
        Some(name) => format!("arn:aws:sqs:{}:{}:{name}", scope.region, scope.account),
        None => "*".to_string(),
    };
    Access::new(format!("sqs:{action}"), resource)
}

/// Decodes `%XX` escapes (a key in a path, or a copy source).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn s3(request: &AwsRequest<'_>) -> Vec<Access> {
    let path = request.uri.path().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket, percent_decoded(key)),
        None => (path, String::new()),
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let object = |key: &str| format!("arn:aws:s3:::{bucket}/{key}");
    let method = request.method;
    if bucket.is_empty() {
        return vec![Access::new("s3:ListAllMyBuckets", "*")];
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    if key.is_empty() {
        return match *method {
            Method::POST if has("delete") => {
                let keys = delete_keys(request.body);
                if keys.is_empty() {
                    vec![Access::new("s3:DeleteObject", object("*"))]
                } else {
                    keys.iter()
                        .map(|k| Access::new("s3:DeleteObject", object(k)))
                        .collect()
                }
            }
            Method::GET | Method::HEAD if has("location") => {
                vec![Access::new("s3:GetBucketLocation", bucket_arn)]
            }
            Method::GET if has("uploads") => {
                vec![Access::new("s3:ListBucketMultipartUploads", bucket_arn)]
            }
            Method::GET if has("versions") => {
                vec![Access::new("s3:ListBucketVersions", bucket_arn)]
            }
            Method::GET | Method::HEAD if query.iter().all(|(k, _)| is_list_parameter(k)) => {
                let list = Access::new("s3:ListBucket", bucket_arn);
                match query.iter().find(|(k, _)| k == "prefix") {
                    Some((_, prefix)) => vec![list.with("s3:prefix", prefix)],
                    None => vec![list],
                }
            }
            Method::PUT if query.is_empty() => vec![Access::new("s3:CreateBucket", bucket_arn)],
            Method::DELETE if query.is_empty() => vec![Access::new("s3:DeleteBucket", bucket_arn)],
            // Bucket configuration, which no function touches: not checked.
            _ => Vec::new(),
        };
    }
    let action = match *method {
        Method::GET | Method::HEAD if has("tagging") => "s3:GetObjectTagging",
        Method::GET | Method::HEAD if has("acl") => "s3:GetObjectAcl",
        Method::GET if has("uploadId") => "s3:ListMultipartUploadParts",
        Method::GET | Method::HEAD => "s3:GetObject",
        Method::PUT if has("tagging") => "s3:PutObjectTagging",
        Method::PUT if has("acl") => "s3:PutObjectAcl",
        Method::DELETE if has("uploadId") => "s3:AbortMultipartUpload",
        Method::DELETE if has("tagging") => "s3:DeleteObjectTagging",
        Method::DELETE => "s3:DeleteObject",
        Method::POST if has("restore") => "s3:RestoreObject",
        // PUT, an upload's parts and its creation and completion, a form POST.
        _ => "s3:PutObject",
    };
    let mut out = vec![Access::new(action, object(&key))];
    if action == "s3:PutObject" {
        if let Some(source) = header(request.headers, "x-amz-copy-source") {
            let source = percent_decoded(source.split('?').next().unwrap_or_default());
            out.push(Access::new(
                "s3:GetObject",
                format!("arn:aws:s3:::{}", source.trim_start_matches('/')),
            ));
        }
    }
    out
}

/// The query parameters of a ListObjects or ListObjectsV2 request.
fn is_list_parameter(name: &str) -> bool {
    matches!(
        name,
        "list-type"
            | "prefix"
            | "delimiter"
            | "continuation-token"
            | "start-after"
            | "max-keys"
            | "marker"
            | "encoding-type"
            | "fetch-owner"
            | "x-id"
    )
}

/// The keys a DeleteObjects body names (`<Object><Key>…</Key></Object>`).
fn delete_keys(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut keys = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + "<Key>".len()..];
        let Some(end) = rest.find("</Key>") else {
            break;
        };
        keys.push(xml_unescaped(&rest[..end]));
        rest = &rest[end..];
    }
    keys
}

fn xml_unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn scope() -> ArnScope {
        ArnScope {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut out = HeaderMap::new();
        for (name, value) in pairs {
            out.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        out
    }

    fn signed(service: &str) -> (&'static str, String) {
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
    }

    fn of(method: Method, uri: &str, headers: &HeaderMap, body: &str) -> Vec<Access> {
        let uri: Uri = uri.parse().expect("uri");
        let protocol = Protocol::of(headers).expect("a checked protocol");
        let request = AwsRequest {
            method: &method,
            uri: &uri,
            headers,
            body: body.as_bytes(),
        };
        accesses(protocol, &request, &scope()).expect("accesses")
    }

    fn pairs(accesses: &[Access]) -> Vec<(&str, &str)> {
        accesses
            .iter()
            .map(|a| (a.action.as_str(), a.resource.as_str()))
            .collect()
    }

    fn dynamodb(operation: &str, body: &str) -> Vec<Access> {
        let target = format!("DynamoDB_20120810.{operation}");
        let h = headers(&[
            ("x-amz-target", &target),
            (signed("dynamodb").0, &signed("dynamodb").1),
        ]);
        assert_eq!(Protocol::of(&h), Some(Protocol::DynamoDb));
        assert_eq!(signing_service(&h).as_deref(), Some("dynamodb"));
        of(Method::POST, "/", &h, body)
    }

    const T: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/";

    #[test]
    fn dynamodb_requests_are_authorized_per_table_and_item() {
        let get = dynamodb("GetItem", r#"{"TableName":"t","Key":{}}"#);
        assert_eq!(pairs(&get), [("dynamodb:GetItem", &*format!("{T}t"))]);
        let query = dynamodb("Query", r#"{"TableName":"t","IndexName":"by_policy"}"#);
        assert_eq!(
            pairs(&query),
            [("dynamodb:Query", &*format!("{T}t/index/by_policy"))]
        );
        let batch = dynamodb(
            "BatchWriteItem",
            r#"{"RequestItems":{"a":[{"PutRequest":{}}],"b":[]}}"#,
        );
        assert_eq!(
            pairs(&batch),
            [
                ("dynamodb:BatchWriteItem", &*format!("{T}a")),
                ("dynamodb:BatchWriteItem", &*format!("{T}b")),
            ]
        );
        let transaction = dynamodb(
            "TransactWriteItems",
            r#"{"TransactItems":[{"Put":{"TableName":"a"}},{"Update":{"TableName":"b"}},
                {"Delete":{"TableName":"c"}},{"ConditionCheck":{"TableName":"d"}}]}"#,
        );
        assert_eq!(
            pairs(&transaction),
            [
                ("dynamodb:PutItem", &*format!("{T}a")),
                ("dynamodb:UpdateItem", &*format!("{T}b")),
                ("dynamodb:DeleteItem", &*format!("{T}c")),
                ("dynamodb:ConditionCheckItem", &*format!("{T}d")),
            ]
        );
        let reads = dynamodb(
            "TransactGetItems",
            r#"{"TransactItems":[{"Get":{"TableName":"a"}}]}"#,
        );
        assert_eq!(pairs(&reads), [("dynamodb:GetItem", &*format!("{T}a"))]);
        let by_arn = dynamodb("DescribeTable", &format!(r#"{{"TableName":"{T}x"}}"#));
        assert_eq!(
            pairs(&by_arn),
            [("dynamodb:DescribeTable", &*format!("{T}x"))]
        );
        assert_eq!(
            pairs(&dynamodb("ListTables", "{}")),
            [("dynamodb:ListTables", "*")]
        );
    }

    const Q: &str = "arn:aws:sqs:us-east-1:123456789012:s-transfer";
    const QUEUE_URL: &str = "http://127.0.0.1:4566/123456789012/s-transfer";

    #[test]
    fn sqs_json_batches_are_authorized_as_single_messages() {
        let h = headers(&[("x-amz-target", "AmazonSQS.SendMessageBatch")]);
        assert_eq!(Protocol::of(&h), Some(Protocol::SqsJson));
        let body = format!(r#"{{"QueueUrl":"{QUEUE_URL}","Entries":[]}}"#);
        assert_eq!(
            pairs(&of(Method::POST, "/", &h, &body)),
            [("sqs:SendMessage", Q)]
        );
        let h = headers(&[("x-amz-target", "AmazonSQS.ChangeMessageVisibility")]);
        assert_eq!(
            pairs(&of(Method::POST, "/", &h, &body)),
            [("sqs:ChangeMessageVisibility", Q)]
        );
        let h = headers(&[("x-amz-target", "AmazonSQS.GetQueueUrl")]);
        assert_eq!(
            pairs(&of(Method::POST, "/", &h, r#"{"QueueName":"s-transfer"}"#)),
            [("sqs:GetQueueUrl", Q)]
        );
    }

    #[test]
    fn sqs_query_requests_are_read_from_the_form() {
        let (name, value) = signed("sqs");
        let h = headers(&[(name, &value)]);
        assert_eq!(Protocol::of(&h), Some(Protocol::SqsQuery));
        let body = format!(
            "Action=DeleteMessageBatch&QueueUrl={}&Version=2012-11-05",
            url::form_urlencoded::byte_serialize(QUEUE_URL.as_bytes()).collect::<String>()
        );
        assert_eq!(
            pairs(&of(Method::POST, "/", &h, &body)),
            [("sqs:DeleteMessage", Q)]
        );
        assert_eq!(
            pairs(&of(
                Method::POST,
                "/123456789012/s-transfer",
                &h,
                "Action=ReceiveMessage"
            )),
            [("sqs:ReceiveMessage", Q)]
        );
    }

    #[test]
    fn s3_requests_name_their_objects_and_the_listing_prefix() {
        let (name, value) = signed("s3");
        let h = headers(&[(name, &value)]);
        assert_eq!(Protocol::of(&h), Some(Protocol::S3));
        let b = "arn:aws:s3:::logs";
        let put = of(
            Method::PUT,
            "/logs/tasks/1/2/a%20b?x-id=PutObject",
            &h,
            "lines",
        );
        assert_eq!(
            pairs(&put),
            [("s3:PutObject", "arn:aws:s3:::logs/tasks/1/2/a b")]
        );
        let get = of(Method::GET, "/logs/tasks/1/x?x-id=GetObject", &h, "");
        assert_eq!(
            pairs(&get),
            [("s3:GetObject", "arn:aws:s3:::logs/tasks/1/x")]
        );
        let head = of(Method::HEAD, "/logs/tasks/1/x", &h, "");
        assert_eq!(
            pairs(&head),
            [("s3:GetObject", "arn:aws:s3:::logs/tasks/1/x")]
        );
        let delete = of(Method::DELETE, "/logs/tasks/1/x?x-id=DeleteObject", &h, "");
        assert_eq!(
            pairs(&delete),
            [("s3:DeleteObject", "arn:aws:s3:::logs/tasks/1/x")]
        );
        let list = of(Method::GET, "/logs?list-type=2&prefix=tasks%2F1%2F", &h, "");
        assert_eq!(pairs(&list), [("s3:ListBucket", b)]);
        assert_eq!(
            list[0].context.get("s3:prefix").map(String::as_str),
            Some("tasks/1/")
        );
        let many = of(
            Method::POST,
            "/logs?delete",
            &h,
            "<Delete><Object><Key>tasks/a&amp;b</Key></Object><Object><Key>other</Key></Object></Delete>",
        );
        assert_eq!(
            pairs(&many),
            [
                ("s3:DeleteObject", "arn:aws:s3:::logs/tasks/a&b"),
                ("s3:DeleteObject", "arn:aws:s3:::logs/other"),
            ]
        );
        let (name, value) = signed("s3");
        let copy = headers(&[
            (name, &value),
            ("x-amz-copy-source", "/src/k%2F1?versionId=3"),
        ]);
        assert_eq!(
            pairs(&of(Method::PUT, "/logs/tasks/k", &copy, "")),
            [
                ("s3:PutObject", "arn:aws:s3:::logs/tasks/k"),
                ("s3:GetObject", "arn:aws:s3:::src/k/1"),
            ]
        );
    }

    #[test]
    fn other_services_are_not_checked_and_apps_are_named_in_the_user_agent() {
        let h = headers(&[("x-amz-target", "TrentService.Decrypt")]);
        assert_eq!(Protocol::of(&h), None);
        assert_eq!(signing_service(&h).as_deref(), Some("kms"));
        let (name, value) = signed("scheduler");
        assert_eq!(Protocol::of(&headers(&[(name, &value)])), None);
        let h = headers(&[
            ("user-agent", "aws-sdk-rust/1.3 os/linux lang/rust/1.85"),
            (
                "x-amz-user-agent",
                "aws-sdk-rust/1.3 ua/2.1 api/dynamodb/1.1 os/linux app/ferry-transfer",
            ),
        ]);
        assert_eq!(app_name(&h), Some("ferry-transfer"));
        assert_eq!(app_name(&headers(&[("user-agent", "curl/8")])), None);
    }
}
