//! The detector interface: flows in, evidence out, nothing else.

use crate::evidence::Evidence;
use crate::flow::Flow;

/// A streaming detector. Flows arrive in time order (as read: files sorted by name, rows in
/// file order); evidence may be emitted as soon as it is established, or at the end.
pub trait Detector: Send {
    /// Looks at one flow, appending any evidence it establishes to `out`.
    fn observe(&mut self, flow: &Flow, out: &mut Vec<Evidence>);
    /// Ends the input: appends what only the whole input shows (beacons, long connections…).
    fn finish(&mut self, out: &mut Vec<Evidence>);
}
