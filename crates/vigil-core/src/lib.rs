//! Vigil's domain core: what every other crate speaks. No I/O, no wall clock, no entropy (its one
//! generator, `Rng`, is seeded).

pub mod alert;
pub mod clock;
pub mod event;
pub mod fixed;
pub mod ids;
pub mod rng;
pub mod time;

pub use alert::{Alert, AlertType, Level};
pub use clock::{Clock, EventClock, TestClock};
pub use event::{Amend, Cancel, Event, EventKind, EventType, LevelHint, NewOrder, Quote, Side, Trade};
pub use fixed::{DecimalError, Price, Qty};
pub use ids::{AccountId, Interner, Names, OrderKey, OwnerId, SymbolId, TradeKey, VenueId};
pub use rng::Rng;
pub use time::Ts;
