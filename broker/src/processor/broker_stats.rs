//! Broker statistics and runtime info: GET_BROKER_RUNTIME_INFO (28), VIEW_BROKER_STATS_DATA
//! (315), GET_BROKER_CONSUME_STATS (317).

use std::sync::Arc;

use remoting::Router;

use crate::BrokerState;

pub fn routes(_r: &mut Router, _s: &Arc<BrokerState>) {}
