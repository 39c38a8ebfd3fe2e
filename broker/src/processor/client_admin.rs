//! Admin calls the broker relays to its clients: reset offsets, consumer status, running
//! info and direct consumption.

use std::sync::Arc;

use remoting::Router;

use crate::BrokerState;

pub fn routes(_r: &mut Router, _s: &Arc<BrokerState>) {}
