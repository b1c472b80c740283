//! Desired state: what the companion of a source ConfigMap must look like, and
//! what to do about the difference. Pure functions, no I/O: everything here is
//! tested without a cluster.
//!
//! A controller is level-triggered. It never asks "what event happened?"; it asks
//! "given the world as it is now, what should it be?" and closes the gap.
//! [`plan`] is that question: it looks at the source and the companion as they
//! are in the cache and returns one [`Plan`]. Running it twice on the same world
//! gives the same answer, which is why a reconcile can be repeated, retried or
//! triggered by any event without harm.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

// ANCHOR: constants
/// A source ConfigMap is mirrored when it carries this label with value `true`.
pub const MANAGED_LABEL: &str = "workshop.io/managed";
/// The companion's annotation holding the checksum of the content it mirrors.
pub const CHECKSUM_ANNOTATION: &str = "workshop.io/source-checksum";
/// Who made the companion, for humans and tools
/// (`kubectl get cm -l app.kubernetes.io/managed-by=configmap-mirror`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// This controller's name: the value of [`MANAGED_BY_LABEL`] and
/// the reporter of its Events.
pub const CONTROLLER_NAME: &str = "configmap-mirror";
/// The companion of `x` is `x-synced`.
pub const COMPANION_SUFFIX: &str = "-synced";
/// Longest object name the API server accepts for a ConfigMap (a DNS subdomain).
const MAX_NAME_LEN: usize = 253;
// ANCHOR_END: constants

// ANCHOR: is_managed
/// Whether `cm` asks to be mirrored.
pub fn is_managed(cm: &ConfigMap) -> bool {
    cm.labels().get(MANAGED_LABEL).is_some_and(|v| v == "true")
}
// ANCHOR_END: is_managed

/// The name of the companion of a source named `source_name`.
pub fn companion_name(source_name: &str) -> String {
    format!("{source_name}{COMPANION_SUFFIX}")
}

// ANCHOR: checksum
/// A canonical, unambiguous SHA-256 of a ConfigMap's content, as lowercase hex.
///
/// Canonical: keys are taken in sorted order (a `BTreeMap` iterates sorted), so
/// the same content always gives the same sum, whatever order a client sent the
/// keys in. Unambiguous: every key and value is preceded by its length, so
/// `{"a": "bc"}` and `{"ab": "c"}` cannot collide, and `data` and `binaryData` are
/// told apart by a tag. An absent map and an empty one are the same content (the
/// API server may drop an empty map).
pub fn checksum(
    data: Option<&BTreeMap<String, String>>,
    binary_data: Option<&BTreeMap<String, ByteString>>,
) -> String {
    // Each key and value goes in as its length (8 bytes, big-endian), then its bytes.
    fn field(hasher: &mut Sha256, bytes: &[u8]) {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Sha256::new();
    let data = data.into_iter().flatten();
    let binary = binary_data.into_iter().flatten();

    hasher.update(b"data");
    hasher.update((data.clone().count() as u64).to_be_bytes());
    for (key, value) in data {
        field(&mut hasher, key.as_bytes());
        field(&mut hasher, value.as_bytes());
    }
    hasher.update(b"binaryData");
    hasher.update((binary.clone().count() as u64).to_be_bytes());
    for (key, value) in binary {
        field(&mut hasher, key.as_bytes());
        field(&mut hasher, &value.0);
    }
    hex::encode(hasher.finalize())
}
// ANCHOR_END: checksum

/// Why a source cannot be mirrored. Retrying does not help: the source has to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSource {
    #[error(
        "the companion name {0:?} would be longer than {MAX_NAME_LEN} characters"
    )]
    NameTooLong(String),
    #[error("the source has no uid or namespace yet (not read from the API server?)")]
    NotPersisted,
}

// ANCHOR: desired_companion
/// The companion `source` should have: same content, the checksum, and a
/// controller owner reference to the source so that the garbage collector
/// deletes it with the source.
pub fn desired_companion(source: &ConfigMap) -> Result<ConfigMap, InvalidSource> {
    let name = companion_name(&source.name_any());
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidSource::NameTooLong(name));
    }
    // EXERCISE 4.1: Build the companion ConfigMap that `source` should have.
    // It is named `name`, in the source's namespace, with the source's `data` and
    // `binaryData`, only the label MANAGED_BY_LABEL=CONTROLLER_NAME (none of the
    // source's labels: a companion labelled as managed would be mirrored in turn),
    // only the annotation CHECKSUM_ANNOTATION holding the `checksum` of that content
    // (none of the source's annotations either), and exactly one owner reference:
    // the source, as its controller, with blockOwnerDeletion set. A source without a
    // uid or a namespace (never stored by the API server) is
    // `InvalidSource::NotPersisted`.
    // Proved by: the_companion_mirrors_content,
    //   the_companion_carries_only_the_managed_by_label,
    //   the_companion_carries_no_annotation_of_the_source,
    //   a_source_without_uid_is_invalid, a_source_without_a_namespace_is_invalid
    // Path: core, 8 min
    // Book: "Step 04 > Ownership"
    // BEGIN SOLUTION
    let mut owner = source
        .controller_owner_ref(&())
        .ok_or(InvalidSource::NotPersisted)?;
    // With a foreground delete of the source, the source waits
    // until the companion is gone.
    owner.block_owner_deletion = Some(true);
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(source.namespace().ok_or(InvalidSource::NotPersisted)?),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.into(),
                CONTROLLER_NAME.into(),
            )])),
            annotations: Some(BTreeMap::from([(
                CHECKSUM_ANNOTATION.into(),
                checksum(source.data.as_ref(), source.binary_data.as_ref()),
            )])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: source.data.clone(),
        binary_data: source.binary_data.clone(),
        ..ConfigMap::default()
    })
    // END SOLUTION
}
// ANCHOR_END: desired_companion

// ANCHOR: controls
/// Whether `source` is the controller of `companion` (its controller owner reference
/// names the source's uid). A ConfigMap that merely has the right name is not ours.
pub fn controls(source: &ConfigMap, companion: &ConfigMap) -> bool {
    let Some(uid) = source.uid() else {
        return false;
    };
    companion
        .owner_references()
        .iter()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
}
// ANCHOR_END: controls

// ANCHOR: plan_enum
/// The one thing reconcile should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The world is as it should be: send nothing.
    Nothing,
    /// Create the companion.
    Create(ConfigMap),
    /// Replace the companion, whose content drifted (the source changed, or someone
    /// edited it). Carries the cached companion's `resourceVersion`: if the companion
    /// changed since we read it, the API server rejects the write (409 Conflict) and
    /// we retry with fresh data.
    Update(ConfigMap),
    /// The source is no longer managed: delete its companion (only
    /// if the uid still matches).
    Delete { name: String, uid: String },
    /// A ConfigMap with the companion's name exists and the source does not control
    /// it. It may be someone's data: never touch it; report and retry later.
    Blocked { companion: String },
    /// The source cannot be mirrored as it is (see [`InvalidSource`]).
    Invalid(InvalidSource),
}
// ANCHOR_END: plan_enum

// ANCHOR: plan
/// Compares the world with what it should be. `source` and `companion` are the cached
/// objects named `x` and `x-synced` (either may be absent).
pub fn plan(source: Option<&ConfigMap>, companion: Option<&ConfigMap>) -> Plan {
    // EXERCISE 4.2: Decide the one thing to do about `source` and `companion`.
    // Whatever the world looks like, the plan is the one the book section below gives
    // for it: a managed source gets exactly its desired companion, written only when
    // the companion drifted, and never over a change we have not seen; a companion
    // the source does not control (`controls` says so, whatever its name and labels)
    // is neither written nor deleted; a source that cannot have a companion is
    // reported; an unmanaged source keeps no companion that it controls; a source
    // that is gone or being deleted is the garbage collector's business. One world
    // can fit more than one of these: which question to ask first is yours to work
    // out, and the order matters.
    // Its tests also call 4.1's `desired_companion`: do 4.1 first.
    // Proved by: plan_, a_source_named_like_a_companion_is_just_a_source,
    //   a_name_too_long
    // Needs: 4.1
    // Path: core, 12 min
    // Book: "Step 04 > Planning the change"
    // BEGIN SOLUTION
    let Some(source) = source else {
        return Plan::Nothing;
    };
    if source.metadata.deletion_timestamp.is_some() {
        return Plan::Nothing;
    }
    if !is_managed(source) {
        return match companion {
            Some(c) if controls(source, c) => Plan::Delete {
                name: c.name_any(),
                uid: c.uid().unwrap_or_default(),
            },
            _ => Plan::Nothing,
        };
    }
    let mut desired = match desired_companion(source) {
        Ok(desired) => desired,
        Err(invalid) => return Plan::Invalid(invalid),
    };
    let Some(actual) = companion else {
        return Plan::Create(desired);
    };
    if !controls(source, actual) {
        return Plan::Blocked {
            companion: actual.name_any(),
        };
    }
    if same_content(actual, &desired) {
        return Plan::Nothing;
    }
    desired.metadata.resource_version = actual.resource_version();
    Plan::Update(desired)
    // END SOLUTION
}
// ANCHOR_END: plan

// ANCHOR: same_content
/// Whether the companion already says what `desired` says (ignoring what the API
/// server adds, like uid, resourceVersion and timestamps).
pub fn same_content(actual: &ConfigMap, desired: &ConfigMap) -> bool {
    fn or_empty<V: Clone>(map: &Option<BTreeMap<String, V>>) -> BTreeMap<String, V> {
        map.clone().unwrap_or_default()
    }
    or_empty(&actual.data) == or_empty(&desired.data)
        && or_empty(&actual.binary_data) == or_empty(&desired.binary_data)
        && actual.annotations().get(CHECKSUM_ANNOTATION)
            == desired.annotations().get(CHECKSUM_ANNOTATION)
        && actual.labels().get(MANAGED_BY_LABEL)
            == desired.labels().get(MANAGED_BY_LABEL)
        && actual.owner_references() == desired.owner_references()
}
// ANCHOR_END: same_content

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, data: &[(&str, &str)]) -> ConfigMap {
        let mut cm = workshop_testkit::configmap(name, data);
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.uid = Some(format!("uid-{name}"));
        cm.metadata.resource_version = Some("7".into());
        cm.labels_mut().insert(MANAGED_LABEL.into(), "true".into());
        cm
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn checksum_is_a_known_sha256_of_the_canonical_encoding() {
        // Worked out by hand: b"data", count 1, len 1, "a", len 1,
        // "b", b"binaryData", count 0.
        let mut bytes = b"data".to_vec();
        for n in [1u64, 1] {
            bytes.extend(n.to_be_bytes());
        }
        bytes.push(b'a');
        bytes.extend(1u64.to_be_bytes());
        bytes.push(b'b');
        bytes.extend(b"binaryData");
        bytes.extend(0u64.to_be_bytes());
        let expected = hex::encode(Sha256::digest(&bytes));
        assert_eq!(checksum(Some(&map(&[("a", "b")])), None), expected);
        assert_eq!(expected.len(), 64);
    }

    // The two sums below were worked out from the book's layout by another program,
    // not by this crate: they pin the encoding of binaryData and of non-ASCII text.
    #[test]
    fn checksum_of_binary_data_hashes_its_raw_bytes() {
        // Bytes that are not text: a sum of their hex or base64 spelling differs.
        let binary = BTreeMap::from([(
            "logo".to_string(),
            ByteString(b"\x89PNG\r\n\x1a\n\x00\xff".to_vec()),
        )]);
        assert_eq!(
            checksum(Some(&map(&[("a", "b")])), Some(&binary)),
            "6a9aed19fb5628729d6244347ebef41e0aea1af6b3e77f4ba07c837792087aef",
            "the sum of data {{a: b}} and binaryData \
             {{logo: 89 50 4e 47 0d 0a 1a 0a 00 ff}}: each binaryData value is hashed \
             as its raw bytes, after their length"
        );
    }

    #[test]
    fn checksum_of_text_that_is_not_ascii_counts_bytes() {
        // "café" is 4 characters but 5 bytes in UTF-8; "ünïcode" 7 characters, 9 bytes.
        assert_eq!(
            checksum(Some(&map(&[("café", "ünïcode")])), None),
            "c89b50879877f238f12038ce8f2ed77d91241a149cee66fdb4f81453bee05fd2",
            "the sum of data {{café: ünïcode}}: every length is a number of UTF-8 \
             bytes, not of characters"
        );
    }

    #[test]
    fn checksum_ignores_insertion_order_and_absent_versus_empty() {
        let mut one = BTreeMap::new();
        one.insert("z".to_string(), "1".to_string());
        one.insert("a".to_string(), "2".to_string());
        let other = map(&[("a", "2"), ("z", "1")]);
        assert_eq!(checksum(Some(&one), None), checksum(Some(&other), None));
        assert_eq!(
            checksum(None, None),
            checksum(Some(&BTreeMap::new()), Some(&BTreeMap::new()))
        );
    }

    #[test]
    fn checksum_is_unambiguous() {
        let sums = [
            checksum(Some(&map(&[("a", "bc")])), None),
            checksum(Some(&map(&[("ab", "c")])), None),
            checksum(Some(&map(&[("a", "b"), ("c", "")])), None),
            checksum(Some(&map(&[("a", "bc"), ("", "")])), None),
            checksum(
                None,
                Some(&BTreeMap::from([(
                    "a".to_string(),
                    ByteString(b"bc".to_vec()),
                )])),
            ),
            checksum(None, None),
        ];
        for (i, a) in sums.iter().enumerate() {
            for b in &sums[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_companion_mirrors_content_and_is_controlled_by_the_source() {
        let mut src = source("colors", &[("red", "#f00")]);
        src.binary_data = Some(BTreeMap::from([(
            "logo".to_string(),
            ByteString(b"\x89PNG".to_vec()),
        )]));
        let companion = desired_companion(&src).unwrap();
        assert_eq!(companion.name_any(), "colors-synced");
        assert_eq!(companion.namespace().as_deref(), Some("ns"));
        assert_eq!(companion.data, src.data);
        assert_eq!(companion.binary_data, src.binary_data, "binaryData too");
        assert_eq!(
            companion.labels().get(MANAGED_BY_LABEL).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        assert_eq!(
            companion.annotations().get(CHECKSUM_ANNOTATION),
            Some(&checksum(src.data.as_ref(), src.binary_data.as_ref()))
        );
        let owners = companion.owner_references();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "uid-colors");
        assert_eq!(owners[0].kind, "ConfigMap");
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].block_owner_deletion, Some(true));
        assert!(controls(&src, &companion));
    }

    #[test]
    fn the_companion_carries_only_the_managed_by_label() {
        let mut src = source("colors", &[("red", "#f00")]);
        src.labels_mut().insert("team".into(), "blue".into());
        let companion = desired_companion(&src).unwrap();
        // A companion labelled workshop.io/managed=true would be mirrored in turn:
        // colors-synced-synced, and so on until the name is too long.
        assert_eq!(
            companion.labels(),
            &BTreeMap::from([(
                MANAGED_BY_LABEL.to_string(),
                CONTROLLER_NAME.to_string()
            )]),
            "the companion's labels must be exactly \
             {MANAGED_BY_LABEL}={CONTROLLER_NAME}, none of the source's"
        );
    }

    #[test]
    fn the_companion_carries_no_annotation_of_the_source() {
        let mut src = source("colors", &[("red", "#f00")]);
        // What `kubectl apply` leaves on every object it writes: the manifest it applied.
        let applied = r##"{"apiVersion":"v1","data":{"red":"#f00"},"kind":"ConfigMap","metadata":{"labels":{"workshop.io/managed":"true"},"name":"colors","namespace":"ns"}}"##;
        src.annotations_mut()
            .insert(LAST_APPLIED.into(), applied.into());
        let companion = desired_companion(&src).unwrap();
        let annotations: Vec<&String> = companion.annotations().keys().collect();
        assert_eq!(
            annotations,
            [CHECKSUM_ANNOTATION],
            "the companion's annotations must be exactly {CHECKSUM_ANNOTATION}, none of \
             the source's: the source's {LAST_APPLIED} holds the manifest of the source \
             (named colors, labelled managed), and on the companion it would make \
             `kubectl apply` and `kubectl diff` take the companion for the object that \
             manifest made"
        );
    }

    /// The annotation `kubectl apply` writes on the objects it applies.
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

    #[test]
    fn a_name_too_long_for_a_companion_is_invalid() {
        let src = source(&"x".repeat(250), &[]);
        assert!(matches!(
            plan(Some(&src), None),
            Plan::Invalid(InvalidSource::NameTooLong(_))
        ));
    }

    #[test]
    fn a_source_without_uid_is_invalid() {
        let mut src = source("colors", &[]);
        src.metadata.uid = None;
        assert_eq!(desired_companion(&src), Err(InvalidSource::NotPersisted));
    }

    #[test]
    fn a_source_without_a_namespace_is_invalid() {
        let mut src = source("colors", &[]);
        src.metadata.namespace = None;
        assert_eq!(
            desired_companion(&src),
            Err(InvalidSource::NotPersisted),
            "a source without a namespace was never stored by the API server: no \
             namespace is to be guessed for its companion"
        );
    }

    #[test]
    fn plan_leaves_an_unmanaged_source_alone_whatever_its_name() {
        let mut src = source(&"x".repeat(250), &[]);
        src.labels_mut().remove(MANAGED_LABEL);
        let plan = plan(Some(&src), None);
        assert_eq!(
            plan,
            Plan::Nothing,
            "a ConfigMap that is not managed, with a name too long for a companion, got \
             {plan:?}: an Invalid plan publishes a Warning Event on a ConfigMap that never \
             asked to be mirrored. Whether a source is managed comes before any companion \
             is built for it"
        );
    }

    #[test]
    fn plan_creates_a_missing_companion() {
        let src = source("colors", &[("a", "1")]);
        assert_eq!(
            plan(Some(&src), None),
            Plan::Create(desired_companion(&src).unwrap())
        );
    }

    #[test]
    fn plan_does_nothing_when_the_companion_is_right() {
        let src = source("colors", &[("a", "1")]);
        let mut companion = desired_companion(&src).unwrap();
        companion.metadata.resource_version = Some("9".into());
        companion.metadata.uid = Some("uid-companion".into());
        assert_eq!(plan(Some(&src), Some(&companion)), Plan::Nothing);
    }

    #[test]
    fn plan_heals_a_hand_edited_companion_with_optimistic_concurrency() {
        let src = source("colors", &[("a", "1")]);
        let mut companion = desired_companion(&src).unwrap();
        companion.metadata.resource_version = Some("9".into());
        companion.data = Some(map(&[("a", "edited by hand")]));
        let Plan::Update(fixed) = plan(Some(&src), Some(&companion)) else {
            panic!("a drifted companion must be updated");
        };
        assert_eq!(fixed.data, src.data);
        assert_eq!(fixed.metadata.resource_version.as_deref(), Some("9"));
    }

    #[test]
    fn plan_follows_a_changed_source() {
        let old = source("colors", &[("a", "1")]);
        let companion = desired_companion(&old).unwrap();
        let new = source("colors", &[("a", "2")]);
        assert!(
            matches!(plan(Some(&new), Some(&companion)), Plan::Update(c) if c.data == new.data)
        );
    }

    // ANCHOR: never_touches_test
    #[test]
    fn plan_never_touches_a_companion_it_does_not_control() {
        let src = source("x", &[("a", "1")]);
        let mut foreign = ConfigMap::default();
        foreign.metadata.name = Some("x-synced".into());
        foreign.data = Some(map(&[("mine", "precious")]));
        assert_eq!(
            plan(Some(&src), Some(&foreign)),
            Plan::Blocked {
                companion: "x-synced".into()
            }
        );
        let mut unmanaged = src.clone();
        unmanaged.labels_mut().remove(MANAGED_LABEL);
        assert_eq!(plan(Some(&unmanaged), Some(&foreign)), Plan::Nothing);
    }
    // ANCHOR_END: never_touches_test

    #[test]
    fn plan_deletes_the_companion_of_an_unmanaged_source() {
        let mut src = source("colors", &[("a", "1")]);
        let mut companion = desired_companion(&src).unwrap();
        companion.metadata.uid = Some("uid-companion".into());
        src.labels_mut()
            .insert(MANAGED_LABEL.into(), "false".into());
        assert_eq!(
            plan(Some(&src), Some(&companion)),
            Plan::Delete {
                name: "colors-synced".into(),
                uid: "uid-companion".into()
            }
        );
        assert_eq!(plan(Some(&src), None), Plan::Nothing);
    }

    #[test]
    fn plan_never_deletes_a_companion_an_unmanaged_source_does_not_control() {
        let mut src = source("colors", &[("a", "1")]);
        src.labels_mut().remove(MANAGED_LABEL);
        // Left by `kubectl delete --cascade=orphan` of an earlier `colors`: the garbage
        // collector removed its owner reference, not its labels.
        let mut orphan = desired_companion(&source("colors", &[("a", "1")])).unwrap();
        orphan.metadata.uid = Some("uid-orphan".into());
        orphan.metadata.owner_references = None;
        assert_eq!(
            plan(Some(&src), Some(&orphan)),
            Plan::Nothing,
            "colors-synced carries the managed-by label but has no owner reference: \
             the source does not control it, so it is not the source's to delete"
        );
        let mut anothers = orphan.clone();
        anothers.metadata.owner_references = desired_companion(&source("other", &[]))
            .unwrap()
            .metadata
            .owner_references;
        assert_eq!(
            plan(Some(&src), Some(&anothers)),
            Plan::Nothing,
            "colors-synced carries the managed-by label but its controller is another \
             uid: the source does not control it, so it is not the source's to delete"
        );
    }

    #[test]
    fn plan_leaves_deleted_sources_to_the_garbage_collector() {
        let src = source("colors", &[("a", "1")]);
        let companion = desired_companion(&src).unwrap();
        assert_eq!(plan(None, Some(&companion)), Plan::Nothing);
        let mut deleting = src.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
        );
        assert_eq!(plan(Some(&deleting), None), Plan::Nothing);
        // The collector removes the companion of a source being deleted, whatever state
        // the companion is in and whatever the source's labels say.
        let mut drifted = companion.clone();
        drifted.data = None;
        assert_eq!(
            plan(Some(&deleting), Some(&drifted)),
            Plan::Nothing,
            "the source is being deleted: its drifted companion goes with it, so \
             healing it would only race the garbage collector"
        );
        let mut unmanaged = deleting.clone();
        unmanaged
            .labels_mut()
            .insert(MANAGED_LABEL.into(), "false".into());
        let mut owned = companion.clone();
        owned.metadata.uid = Some("uid-companion".into());
        assert_eq!(
            plan(Some(&unmanaged), Some(&owned)),
            Plan::Nothing,
            "the source is being deleted (and no longer managed): the garbage collector \
             deletes its companion, a Delete of ours would only race it"
        );
    }

    #[test]
    fn a_source_named_like_a_companion_is_just_a_source() {
        let src = source("y-synced", &[("a", "1")]);
        assert!(
            matches!(plan(Some(&src), None), Plan::Create(c) if c.name_any() == "y-synced-synced")
        );
    }
}
