//! Reads `template.yaml` so the local stack is provisioned from the same definitions that are
//! deployed. Resolves the intrinsic functions the template uses (`Ref`, `Fn::Sub`, `Fn::GetAtt`)
//! against the emulated account; anything else is refused rather than guessed.

use serde_json::{Map, Value as Json};
use serde_norway::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;

/// The account and region the emulators pretend to be (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml: {0}")]
    Unsupported(String),
}

#[derive(Debug, Clone)]
pub struct Template {
    resources: BTreeMap<String, Json>,
    globals: Json,
    parameters: BTreeMap<String, String>,
}

/// One resource of the template with its properties resolved.
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub kind: String,
    pub properties: Json,
    pub metadata: Json,
}

impl Template {
    pub fn load(path: &Path, overrides: &[(&str, &str)]) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text, overrides)
    }

    /// Parses the template, taking parameter values from `overrides`, then from defaults.
    pub fn parse(text: &str, overrides: &[(&str, &str)]) -> Result<Template, TemplateError> {
        let yaml: Yaml = serde_norway::from_str(text)?;
        let root = to_json(&yaml);
        let mut parameters = BTreeMap::new();
        for (name, spec) in root["Parameters"].as_object().into_iter().flatten() {
            let value = overrides
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| spec.get("Default").map(scalar));
            if let Some(value) = value {
                parameters.insert(name.clone(), value);
            }
        }
        let resources = root["Resources"]
            .as_object()
            .ok_or_else(|| TemplateError::Unsupported("no Resources".into()))?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Template {
            resources,
            globals: root["Globals"].clone(),
            parameters,
        })
    }

    /// Every resource of `kind` (e.g. `AWS::SQS::Queue`), properties resolved.
    pub fn resources(&self, kind: &str) -> Result<Vec<Resource>, TemplateError> {
        self.resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .map(|(id, r)| {
                Ok(Resource {
                    logical_id: id.clone(),
                    kind: kind.to_owned(),
                    properties: self.resolve(&r["Properties"])?,
                    metadata: r["Metadata"].clone(),
                })
            })
            .collect()
    }

    /// A function's environment: the template's global variables overlaid with its own.
    pub fn function_environment(&self, function: &Resource) -> Result<BTreeMap<String, String>, TemplateError> {
        let globals = self.resolve(&self.globals["Function"]["Environment"]["Variables"])?;
        let own = &function.properties["Environment"]["Variables"];
        Ok([&globals, own]
            .into_iter()
            .filter_map(Json::as_object)
            .flatten()
            .map(|(k, v)| (k.clone(), scalar(v)))
            .collect())
    }

    fn resolve(&self, value: &Json) -> Result<Json, TemplateError> {
        Ok(match value {
            Json::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
                Json::String(self.reference(map["Ref"].as_str().unwrap_or_default())?)
            }
            Json::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
                Json::String(self.sub(&map["Fn::Sub"])?)
            }
            Json::Object(map) if map.len() == 1 && map.contains_key("Fn::GetAtt") => {
                let (resource, attribute) = match &map["Fn::GetAtt"] {
                    Json::String(dotted) => dotted.split_once('.').unwrap_or((dotted, "")),
                    Json::Array(parts) if parts.len() == 2 => (
                        parts[0].as_str().unwrap_or_default(),
                        parts[1].as_str().unwrap_or_default(),
                    ),
                    other => {
                        return Err(TemplateError::Unsupported(format!("Fn::GetAtt of {other}")));
                    }
                };
                Json::String(self.attribute(resource, attribute)?)
            }
            Json::Object(map) if map.len() == 1 && map.keys().next().is_some_and(|k| k.starts_with("Fn::")) => {
                let name = map.keys().next().map(String::as_str).unwrap_or_default();
                return Err(TemplateError::Unsupported(format!(
                    "the local stack does not resolve {name}"
                )));
            }
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<Map<_, _>, TemplateError>>()?,
            ),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?),
            other => other.clone(),
        })
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        match name {
            "AWS::AccountId" => return Ok(ACCOUNT_ID.into()),
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::StackName" => return Ok("carebridge-local".into()),
            _ => {}
        }
        let resource = self.resources.get(name).ok_or_else(|| {
            TemplateError::Unsupported(format!("Ref to unknown `{name}` (is a parameter missing a value?)"))
        })?;
        let properties = &resource["Properties"];
        let physical = match resource["Type"].as_str().unwrap_or_default() {
            "AWS::DynamoDB::Table" => &properties["TableName"],
            "AWS::S3::Bucket" => &properties["BucketName"],
            // The queue URL depends on the emulator's address; consumers look it up by name.
            "AWS::SQS::Queue" => &properties["QueueName"],
            "AWS::Logs::LogGroup" => &properties["LogGroupName"],
            other => return Ok(format!("{name}-{other}")),
        };
        Ok(scalar(&self.resolve(physical)?))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, TemplateError> {
        let name = self.reference(resource)?;
        let kind = self
            .resources
            .get(resource)
            .and_then(|r| r["Type"].as_str())
            .unwrap_or_default();
        Ok(match (kind, attribute) {
            ("AWS::DynamoDB::Table", "Arn") => {
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}")
            }
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"),
            ("AWS::SQS::Queue", "QueueName") => name,
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
            ("AWS::Logs::LogGroup", "Arn") => {
                format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}")
            }
            _ => {
                return Err(TemplateError::Unsupported(format!("Fn::GetAtt {resource}.{attribute}")));
            }
        })
    }

    fn sub(&self, spec: &Json) -> Result<String, TemplateError> {
        let (text, variables) = match spec {
            Json::String(text) => (text.as_str(), Map::new()),
            Json::Array(parts) if parts.len() == 2 => (
                parts[0].as_str().unwrap_or_default(),
                parts[1].as_object().cloned().unwrap_or_default(),
            ),
            other => return Err(TemplateError::Unsupported(format!("Fn::Sub of {other}"))),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| TemplateError::Unsupported(format!("unclosed ${{ in Fn::Sub `{text}`")))?;
            let name = &rest[start + 2..start + end];
            let value = match variables.get(name) {
                Some(value) => scalar(&self.resolve(value)?),
                None => match name.split_once('.') {
                    Some((resource, attribute)) => self.attribute(resource, attribute)?,
                    None => self.reference(name)?,
                },
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn scalar(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// YAML to JSON, turning short-form intrinsics (`!Ref X`) into their long form (`{"Ref": X}`).
fn to_json(yaml: &Yaml) -> Json {
    match yaml {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map(str::to_owned).unwrap_or_else(|| scalar(&to_json(k))),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            Json::Object(Map::from_iter([(long, to_json(&tagged.value))]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Stage: { Type: String, Default: dev }
Globals:
  Function:
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        STAGE: !Ref Stage
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties: { TableName: !Sub "carebridge-${Stage}" }
  Dlq:
    Type: AWS::SQS::Queue
    Properties: { QueueName: !Sub "q-${Stage}-dlq" }
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "q-${Stage}"
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 5 }
  Bucket:
    Type: AWS::S3::Bucket
    Properties: { BucketName: !Sub "b-${Stage}-${AWS::AccountId}" }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: { Variables: { BUCKET: !Ref Bucket, ARN: !Sub "${Table.Arn}/x" } }
"#;

    #[test]
    fn resolves_refs_subs_and_getatts_with_overrides() {
        let template = Template::parse(SAMPLE, &[("Stage", "test")]).unwrap();
        let queues = template.resources("AWS::SQS::Queue").unwrap();
        let queue = queues.iter().find(|q| q.logical_id == "Queue").unwrap();
        assert_eq!(queue.properties["QueueName"], "q-test");
        assert_eq!(
            queue.properties["RedrivePolicy"]["deadLetterTargetArn"],
            format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:q-test-dlq")
        );
        let function = &template.resources("AWS::Serverless::Function").unwrap()[0];
        let env = template.function_environment(function).unwrap();
        assert_eq!(env["TABLE_NAME"], "carebridge-test");
        assert_eq!(env["STAGE"], "test");
        assert_eq!(env["BUCKET"], format!("b-test-{ACCOUNT_ID}"));
        assert_eq!(
            env["ARN"],
            format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/carebridge-test/x")
        );
    }

    #[test]
    fn unsupported_intrinsics_are_refused_not_guessed() {
        let text =
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: { TableName: !Join ['-', [a, b]] }\n";
        let template = Template::parse(text, &[]).unwrap();
        let error = template.resources("AWS::DynamoDB::Table").unwrap_err();
        assert!(error.to_string().contains("Fn::Join"), "{error}");
    }

    #[test]
    fn the_project_template_resolves() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let template = Template::load(&path, &[("Stage", "test"), ("JwtIssuer", "x"), ("JwtAudience", "y")]).unwrap();
        assert_eq!(template.resources("AWS::DynamoDB::Table").unwrap().len(), 1);
        for function in template.resources("AWS::Serverless::Function").unwrap() {
            let env = template.function_environment(&function).unwrap();
            assert_eq!(env["TABLE_NAME"], "carebridge-test");
        }
    }
}
