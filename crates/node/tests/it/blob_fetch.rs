//! Blob availability between replicated nodes, under the deterministic runtime (simulated
//! network, virtual time): a blob put on node 0 is fetched by node 2 from its peers and stored
//! there; a peer answering with bytes that do not hash to the key, or with a blob over the size
//! limit, is blocked and nothing is stored.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use commonware_cryptography::{Blake3, Hasher as _};
use commonware_resolver::{p2p, Consumer, Delivery};
use commonware_runtime::{deterministic, Quota, Runner as _, Supervisor as _};
use commonware_utils::{channel::oneshot, NZUsize, NonZeroDuration};
use deai_chain::GenesisConfig;
use deai_node::{
    engine::{
        blobs::{key_of, BlobKey},
        cluster::{Cluster, ClusterConfig, LinkSpec},
        Timing, CHANNEL_IDS,
    },
    ledger::{BlockLimits, ReplicatedLedger},
};
use deai_store::BlobStore;
use deai_types::Hash32;

use crate::ledger_sim::{genesis, users};

/// Every node's blob limit in these tests.
const MAX_BLOB: u64 = 64 << 10;

/// How long a fetch may wait.
const WAIT: Duration = Duration::from_secs(5);

fn config() -> ClusterConfig {
    ClusterConfig {
        validators: 4,
        participants: 4,
        epoch_length: 0,
        link: LinkSpec::reliable(Duration::from_millis(20)),
        namespace: b"deai-sim".to_vec(),
        max_payload_bytes: BlockLimits::default().max_bytes,
        timing: Timing::local(),
        messages_per_second: 10_000,
    }
}

/// A node's ledger and its blob store.
struct Node {
    ledger: Arc<ReplicatedLedger>,
    blobs: Arc<BlobStore>,
}

fn open(genesis: &GenesisConfig, n: usize) -> (Vec<tempfile::TempDir>, Vec<Node>) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = dirs
        .iter()
        .map(|d| {
            let blobs = Arc::new(
                BlobStore::open(d.path().join("blobs"))
                    .unwrap()
                    .with_max_bytes(MAX_BLOB),
            );
            let ledger = ReplicatedLedger::init(d.path(), genesis, BlockLimits::default())
                .unwrap()
                .with_blobs(blobs.clone());
            Node {
                ledger: Arc::new(ledger),
                blobs,
            }
        })
        .collect();
    (dirs, nodes)
}

/// Deterministic bytes of `len`.
fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn hash_of(bytes: &[u8]) -> Hash32 {
    Hash32(Blake3::hash(&[bytes]).0)
}

/// The attacker's producer: the bytes it was given for a key, junk for any other key.
#[derive(Clone)]
struct Liar {
    known: Arc<HashMap<BlobKey, Bytes>>,
}

impl p2p::Producer for Liar {
    type Key = BlobKey;

    fn produce(&mut self, key: BlobKey) -> oneshot::Receiver<Bytes> {
        let (tx, rx) = oneshot::channel();
        let answer = self
            .known
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"not the blob you asked for"));
        let _ = tx.send(answer);
        rx
    }
}

/// The attacker never fetches anything.
#[derive(Clone)]
struct Nobody;

impl Consumer for Nobody {
    type Key = BlobKey;
    type Value = Bytes;
    type Subscriber = ();
    type Outcome = bool;

    fn deliver(&mut self, _: Delivery<BlobKey, ()>, _: Bytes) -> oneshot::Receiver<bool> {
        oneshot::channel().1
    }
}

#[test]
fn a_blob_put_on_node_0_is_fetched_by_node_2_and_stored_there() {
    let (_dirs, nodes) = open(&genesis(&users(2)), 4);
    let ledgers: Vec<_> = nodes.iter().map(|n| n.ledger.clone()).collect();
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(31)
            .with_timeout(Some(Duration::from_secs(600))),
    );
    runner.start(|context| async move {
        let mut cluster = Cluster::new(context.child("cluster"), config())
            .await
            .unwrap();
        cluster.start_all(&ledgers).await.unwrap();
        let bytes = blob(40 << 10, 7);
        let hash = nodes[0].blobs.put(&bytes).unwrap();
        assert!(!nodes[2].blobs.contains(&hash));

        let fetcher = nodes[2].ledger.blob_fetcher().expect("engine started");
        let fetched = fetcher.fetch_within(&context, &hash, WAIT).await;
        assert_eq!(fetched.as_deref(), Some(bytes.as_slice()));
        assert_eq!(
            nodes[2].blobs.get(&hash).unwrap(),
            bytes,
            "stored on node 2"
        );

        // A blob no node holds: not found within the wait, nothing stored.
        let missing = hash_of(b"no node has this");
        let fetcher = nodes[1].ledger.blob_fetcher().unwrap();
        assert_eq!(fetcher.fetch_within(&context, &missing, WAIT).await, None);
        assert!(!nodes[1].blobs.contains(&missing));
        assert!(
            cluster.oracle().blocked().await.unwrap().is_empty(),
            "honest peers answering \"no data\" are not blocked"
        );
    });
}

#[test]
fn a_peer_answering_with_wrong_or_oversized_bytes_is_blocked_and_nothing_is_stored() {
    let (_dirs, nodes) = open(&genesis(&users(2)), 3);
    let ledgers: Vec<_> = nodes.iter().map(|n| n.ledger.clone()).collect();
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(32)
            .with_timeout(Some(Duration::from_secs(600))),
    );
    runner.start(|context| async move {
        // Four validators, three run honestly; the fourth key is the attacker's, who answers
        // every blob request on the blob channel.
        let mut cluster = Cluster::new(context.child("cluster"), config())
            .await
            .unwrap();
        let keys = cluster.public_keys();
        cluster.start_all(&ledgers).await.unwrap();
        let rogue = keys[3].clone();
        let control = cluster.oracle().control(rogue.clone());
        let channel = control
            .register(CHANNEL_IDS[6], Quota::per_second(std::num::NonZeroU32::MAX))
            .await
            .unwrap();
        let oversized = blob(MAX_BLOB as usize + 1, 9);
        let oversized_hash = hash_of(&oversized);
        let known = HashMap::from([(key_of(&oversized_hash), Bytes::from(oversized))]);
        let (engine, _mailbox) = p2p::Engine::new(
            context.child("rogue"),
            p2p::Config {
                peer_provider: cluster.oracle().manager(),
                blocker: control,
                consumer: Nobody,
                producer: Liar {
                    known: Arc::new(known),
                },
                mailbox_size: NZUsize!(64),
                me: Some(rogue.clone()),
                fetch_timeout: NonZeroDuration::new_panic(Duration::from_secs(1)),
                fetch_retry_delay: Duration::from_millis(100),
                priority_requests: false,
                priority_responses: false,
            },
        );
        engine.start(channel);

        // Node 2 asks for a blob only the attacker claims: its junk does not hash to the key.
        let wanted = hash_of(b"the blob node 2 wants");
        let fetcher = nodes[2].ledger.blob_fetcher().unwrap();
        assert_eq!(fetcher.fetch_within(&context, &wanted, WAIT).await, None);
        assert!(!nodes[2].blobs.contains(&wanted));
        let blocked = cluster.oracle().blocked().await.unwrap();
        assert!(
            blocked.contains(&(keys[2].clone(), rogue.clone())),
            "{blocked:?}"
        );

        // Node 1 asks for a blob over the limit: the right bytes, but too many.
        let fetcher = nodes[1].ledger.blob_fetcher().unwrap();
        assert_eq!(
            fetcher.fetch_within(&context, &oversized_hash, WAIT).await,
            None
        );
        assert!(!nodes[1].blobs.contains(&oversized_hash));
        let blocked = cluster.oracle().blocked().await.unwrap();
        assert!(
            blocked.contains(&(keys[1].clone(), rogue.clone())),
            "{blocked:?}"
        );
        assert!(
            blocked.iter().all(|(_, who)| *who == rogue),
            "only the attacker is blocked: {blocked:?}"
        );
    });
}
