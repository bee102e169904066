//! Execution state changes on the default EventBridge bus.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::model::notification::{
    ExecutionStateChange, EVENTBRIDGE_DETAIL_TYPE, EVENTBRIDGE_SOURCE,
};
use crate::ports::notify::{EventBus, EventBusError};

pub struct EventBridgeBus {
    pub client: aws_sdk_eventbridge::Client,
    /// The bus's name or ARN; "default" unless configured.
    pub bus: String,
}

fn failed(message: impl Into<String>) -> EventBusError {
    EventBusError {
        operation: "PutEvents",
        message: message.into(),
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put_state_change(&self, detail: &ExecutionStateChange) -> Result<(), EventBusError> {
        let detail = serde_json::to_string(detail).map_err(|e| failed(e.to_string()))?;
        let entry = PutEventsRequestEntry::builder()
            .source(EVENTBRIDGE_SOURCE)
            .detail_type(EVENTBRIDGE_DETAIL_TYPE)
            .detail(detail)
            .event_bus_name(&self.bus)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| failed(super::describe(&e)))?;
        if out.failed_entry_count() > 0 {
            let reasons: Vec<String> = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message().map(str::to_string))
                .collect();
            return Err(failed(format!("entry refused: {}", reasons.join("; "))));
        }
        Ok(())
    }
}
