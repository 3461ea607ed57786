//! The read API: query parameters into SQL and rows into answers, for logs (`logs`), groups
//! (`groups`), stats (`stats`), hourly series (`trends`) and trend and anomaly scores
//! (`analysis`). Pure: the edge runs the statements and passes the clock.

pub mod analysis;
pub mod groups;
pub mod logs;
pub mod stats;
pub mod trends;
