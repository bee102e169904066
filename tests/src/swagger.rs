//! Checks JSON against Harbor's v2.0 swagger (tests/fixtures/harbor-v2.0-swagger.yaml, copied
//! from Harbor): every field Ferry sends must be one the definition has, with its type, so that
//! clients generated from Harbor's swagger read Ferry's answers.

use serde_json::Value;

pub struct Swagger {
    definitions: Value,
}

impl Swagger {
    pub fn load() -> Self {
        let path = crate::workspace_root().join("tests/fixtures/harbor-v2.0-swagger.yaml");
        let text = std::fs::read_to_string(&path).expect("swagger fixture");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("swagger yaml");
        let json = serde_json::to_value(yaml).expect("swagger as json");
        Self {
            definitions: json["definitions"].clone(),
        }
    }

    /// The problems of `value` against definition `name`; empty when it conforms.
    /// `extensions` are Ferry's own additions that Harbor's clients ignore.
    pub fn check(&self, name: &str, value: &Value, extensions: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_schema(
            &serde_json::json!({"$ref": format!("#/definitions/{name}")}),
            value,
            name,
            extensions,
            &mut problems,
        );
        problems
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/definitions/");
                &self.definitions[name]
            }
            None => schema,
        }
    }

    fn check_schema(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        extensions: &[&str],
        problems: &mut Vec<String>,
    ) {
        let schema = self.resolve(schema);
        if value.is_null() {
            return;
        }
        let kind = schema.get("type").and_then(Value::as_str).unwrap_or(
            if schema.get("properties").is_some() {
                "object"
            } else {
                ""
            },
        );
        let ok = match kind {
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !ok {
            problems.push(format!("{at}: {value} is not {kind}"));
            return;
        }
        if kind == "string" && schema.get("format").and_then(Value::as_str) == Some("date-time") {
            let text = value.as_str().unwrap_or_default();
            if time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                problems.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
            }
        }
        if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
            for (i, item) in values.iter().enumerate() {
                self.check_schema(items, item, &format!("{at}[{i}]"), extensions, problems);
            }
        }
        if let (Some(properties), Some(object)) = (
            schema.get("properties").and_then(Value::as_object),
            value.as_object(),
        ) {
            for (key, field) in object {
                match properties.get(key) {
                    Some(property) => self.check_schema(
                        property,
                        field,
                        &format!("{at}.{key}"),
                        extensions,
                        problems,
                    ),
                    None if extensions.contains(&key.as_str()) => {}
                    None => problems.push(format!("{at}.{key}: not in Harbor's definition")),
                }
            }
        }
    }

    /// A request body for definition `name` with every field Harbor defines, filled from
    /// `values` where given and with a value of the defined type otherwise.
    pub fn example(&self, name: &str, values: &Value) -> Value {
        let schema = &self.definitions[name];
        let mut out = serde_json::Map::new();
        for (key, property) in schema["properties"].as_object().into_iter().flatten() {
            let property = self.resolve(property);
            let value =
                values
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| match property["type"].as_str() {
                        Some("integer") => Value::from(0),
                        Some("boolean") => Value::from(false),
                        Some("array") => Value::Array(Vec::new()),
                        Some("string") if property["format"] == "date-time" => {
                            Value::from("2024-01-02T03:04:05Z")
                        }
                        Some("string") => Value::from(""),
                        _ => Value::Null,
                    });
            out.insert(key.clone(), value);
        }
        Value::Object(out)
    }
}
