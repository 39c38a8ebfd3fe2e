//! Admin views of topics, groups and offsets: topic and consume stats, connection lists,
//! offset tables, broker config, and the store maintenance codes.

use std::sync::Arc;

use remoting::Router;

use crate::BrokerState;

pub fn routes(_r: &mut Router, _s: &Arc<BrokerState>) {}
