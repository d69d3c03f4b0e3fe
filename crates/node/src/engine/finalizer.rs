//! Receives finalized blocks from marshal, applies them through the executor, then acknowledges.
//! After the last block of a consensus epoch is applied it tells the orchestrator, which starts
//! the next epoch's consensus engine.

use std::sync::Arc;

use commonware_actor::Feedback;
use commonware_consensus::{marshal::Update, Reporter};
use commonware_utils::{acknowledgement::Exact, Acknowledgement as _};
use futures::{channel::mpsc, StreamExt as _};
use tracing::{debug, error};

use commonware_consensus::types::{Epocher as _, FixedEpocher, Height};

use super::{ConsensusBlock, Event, Executor};

/// Marshal's reporter: queues each finalized block for the finalizer task.
#[derive(Clone)]
pub struct Finalizer {
    sender: mpsc::UnboundedSender<(ConsensusBlock, Exact)>,
}

impl Finalizer {
    /// Creates the reporter and the task that drains it (spawn the future).
    pub(crate) fn new<X: Executor>(
        executor: Arc<X>,
        epocher: FixedEpocher,
        boundaries: mpsc::UnboundedSender<Event>,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (sender, mut receiver) = mpsc::unbounded::<(ConsensusBlock, Exact)>();
        let task = async move {
            while let Some((block, ack)) = receiver.next().await {
                match executor.finalize(&block) {
                    Ok(applied) => {
                        debug!(height = block.height_u64(), applied, "finalized block");
                        ack.acknowledge();
                        let height = Height::new(block.height_u64());
                        if let Some(info) = epocher.containing(height) {
                            if info.last() == height {
                                let _ = boundaries.unbounded_send(Event::Boundary(info.epoch()));
                            }
                        }
                    }
                    Err(err) => {
                        // Not acknowledging stops marshal's delivery: a node that cannot apply
                        // a finalized block must not pretend it did.
                        let reason = ErrorChain(&err).to_string();
                        error!(height = block.height_u64(), %reason, "cannot apply finalized block; halting");
                        std::mem::forget(ack);
                        futures::future::pending::<()>().await;
                    }
                }
            }
        };
        (Self { sender }, task)
    }
}

/// Displays an error followed by each of its sources (`a: b: c`).
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl Reporter for Finalizer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                let block = block.inner().clone();
                if self.sender.unbounded_send((block, ack)).is_err() {
                    return Feedback::Closed;
                }
                Feedback::Ok
            }
            Update::Tip(_, height, _) => {
                debug!(height = height.get(), "finalized tip");
                Feedback::Ok
            }
        }
    }
}
