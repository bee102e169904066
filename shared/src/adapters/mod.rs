//! The ports' real implementations: `aws` (one file per service, one folder for the DynamoDB
//! store) and `registry` (one folder per registry kind, over one HTTP transport).

pub mod aws;
pub mod processor;
pub mod registry;
pub mod webhook;
