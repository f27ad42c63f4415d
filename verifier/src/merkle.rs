//! The RFC 9162 §2.1 Merkle tree over SHA-256: leaf and node hashing, the
//! streaming [`Frontier`] that the verifier folds a journal into, the reference
//! tree head, and generation and verification of inclusion and consistency
//! proofs.
//!
//! This module owns the tree arithmetic only: it knows nothing of events,
//! signatures or files. It must never panic on untrusted input (proof hashes,
//! indices, sizes and roots all come from files an attacker may have written),
//! never accept a proof whose length differs from the one RFC 9162 prescribes
//! for the given sizes, and never hold more than the frontier in memory while
//! streaming.

use sha2::{Digest, Sha256};

use crate::signing::hex;

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree head.
pub type Hash = [u8; 32];

/// Why a Merkle proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is out of range: expected an index below the tree size {size}")]
    IndexOutOfRange {
        /// The index that was asked for.
        index: u64,
        /// The size of the tree.
        size: u64,
    },
    /// The old tree of a consistency proof is larger than the new one.
    #[error("old tree size {old_size} is larger than the new tree size {new_size}: expected old size <= new size")]
    OldSizeTooLarge {
        /// The size of the old (earlier) tree.
        old_size: u64,
        /// The size of the new (later) tree.
        new_size: u64,
    },
    /// The proof does not have the number of hashes RFC 9162 prescribes.
    #[error("proof has the wrong length: expected {expected} hashes, found {found}")]
    ProofLength {
        /// The number of hashes the proof must have for these sizes.
        expected: usize,
        /// The number of hashes the proof has.
        found: usize,
    },
    /// The root recomputed from an inclusion proof is not the given root.
    #[error("inclusion proof does not lead to the tree head: expected root {}, computed {}", hex(.expected), hex(.computed))]
    InclusionRootMismatch {
        /// The root the proof was checked against.
        expected: Hash,
        /// The root recomputed from the leaf and the proof.
        computed: Hash,
    },
    /// The old root recomputed from a consistency proof is not the given old root.
    #[error("consistency proof does not lead to the old tree head: expected root {}, computed {}", hex(.expected), hex(.computed))]
    OldRootMismatch {
        /// The old root the proof was checked against.
        expected: Hash,
        /// The old root recomputed from the proof.
        computed: Hash,
    },
    /// The new root recomputed from a consistency proof is not the given new root.
    #[error("consistency proof does not lead to the new tree head: expected root {}, computed {}", hex(.expected), hex(.computed))]
    NewRootMismatch {
        /// The new root the proof was checked against.
        expected: Hash,
        /// The new root recomputed from the proof.
        computed: Hash,
    },
    /// Two tree heads of the same size name different roots: the log forked.
    #[error("two trees of the same size {size} have different roots: expected {}, found {}", hex(.old_root), hex(.new_root))]
    SameSizeRootMismatch {
        /// The common tree size.
        size: u64,
        /// The root of the old tree head.
        old_root: Hash,
        /// The root of the new tree head.
        new_root: Hash,
    },
}

/// The RFC 9162 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    #[cfg(test)]
    tests::NODE_HASHES.with(|c| c.set(c.get() + 1));
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The tree head of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The compact frontier of a growing tree: the roots of the perfect subtrees covering leaves 0..size (at most 64 hashes). Memory does not grow with the tree beyond this.
///
/// The subtrees are those of the binary decomposition of `size`, largest
/// (leftmost) first; subtree `i` of the list has `2^h` leaves where `h` is the
/// position of the `i`-th highest set bit of `size`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves pushed so far.
    size: u64,
    /// Roots of the perfect subtrees, left to right (one per set bit of `size`).
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) as leaf number [`Frontier::size`].
    ///
    /// Amortised O(1): each push merges as many subtrees as `size` has trailing
    /// one bits.
    ///
    /// # Panics
    ///
    /// Only if the tree already holds `u64::MAX` leaves, which cannot happen.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut carry = leaf_hash;
        let mut bits = self.size;
        while bits & 1 == 1 {
            // A set bit always has its subtree in the list, so pop succeeds.
            if let Some(left) = self.subtrees.pop() {
                carry = node_hash(&left, &carry);
            }
            bits >>= 1;
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 9162 Merkle tree hash (MTH) of the leaves so far; [`empty_root`]
    /// for an empty tree. O(log size).
    pub fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        // Folding from the right: each subtree to the left is at least as large
        // as everything to its right, which is exactly how MTH splits a tree.
        iter.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    // The highest set bit of n - 1.
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The reference Merkle tree hash `MTH(D[n])` of RFC 9162 §2.1.1, computed
/// directly from its recursive definition. O(n) hashes, O(log n) stack.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(
                &root_from_leaves(&leaves[..k]),
                &root_from_leaves(&leaves[k..]),
            )
        }
    }
}

/// The inclusion proof `PATH(m, D[n])` of RFC 9162 §2.1.3.1 for the leaf at
/// `index` in the tree over `leaves`, ordered from the leaf's sibling up to the
/// root's child.
///
/// The proof's subtrees are disjoint, so this takes O(n) hashes in total.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    // `index < size <= usize::MAX` here, so the conversion is exact.
    path(leaves, index as usize, &mut proof);
    Ok(proof)
}

/// Appends `PATH(m, D)` to `out` (`m < D.len()`), leaf side first.
fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(&leaves[..k], m, out);
        out.push(root_from_leaves(&leaves[k..]));
    } else {
        path(&leaves[k..], m - k, out);
        out.push(root_from_leaves(&leaves[..k]));
    }
}

/// The number of hashes in an inclusion proof for `index` in a tree of `size`
/// leaves (`index < size`), found by running the walk of RFC 9162 §2.1.3.2
/// without hashing.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut fn_, mut sn) = (index, size - 1);
    let mut len = 0;
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        len += 1;
    }
    len
}

/// Verifies that `leaf` (a leaf hash) is leaf number `index` of the tree of
/// `size` leaves whose head is `root`, with the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            // Unreachable after the length check; kept as the RFC states it.
            return Err(MerkleError::ProofLength {
                expected,
                found: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofLength {
            expected,
            found: proof.len(),
        });
    }
    if r != *root {
        return Err(MerkleError::InclusionRootMismatch {
            expected: *root,
            computed: r,
        });
    }
    Ok(())
}

/// The consistency proof `PROOF(m, D[n])` of RFC 9162 §2.1.4.1 between the
/// tree of the first `old_size` leaves and the tree over all `leaves`.
///
/// RFC 9162 defines the proof for `0 < m < n`; for `old_size == leaves.len()`
/// it is empty (`SUBPROOF(m, D[m], true)`), and for `old_size == 0` this
/// returns an empty proof too: the empty tree is a prefix of every tree, and
/// [`verify_consistency`] checks its fixed root instead. O(n) hashes.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(MerkleError::OldSizeTooLarge { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        // `old_size <= new_size <= usize::MAX`, so the conversion is exact.
        subproof(leaves, old_size as usize, true, &mut proof);
    }
    Ok(proof)
}

/// Appends `SUBPROOF(m, D, b)` to `out` (`0 < m <= D.len()`).
fn subproof(leaves: &[Hash], m: usize, complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root_from_leaves(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(&leaves[..k], m, complete, out);
        out.push(root_from_leaves(&leaves[k..]));
    } else {
        subproof(&leaves[k..], m - k, false, out);
        out.push(root_from_leaves(&leaves[..k]));
    }
}

/// The number of hashes in a consistency proof between sizes
/// `0 < old_size < new_size`, found by running the walk of RFC 9162 §2.1.4.2
/// without hashing.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Hashes consumed by the loop after the first one.
    let mut steps = 0;
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        steps += 1;
    }
    // The first hash is supplied by the verifier itself when the old size is
    // a power of two (the old root is then a node of the new tree).
    if old_size.is_power_of_two() {
        steps
    } else {
        steps + 1
    }
}

/// Verifies that the tree of `old_size` leaves with head `old_root` is a prefix
/// of the tree of `new_size` leaves with head `new_root`, with the algorithm of
/// RFC 9162 §2.1.4.2.
///
/// Beyond the RFC's `0 < old_size < new_size`: equal sizes need an empty proof
/// and equal roots (different roots are a fork); `old_size == 0` needs an empty
/// proof and `old_root` equal to [`empty_root`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::OldSizeTooLarge { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_size == 0 {
            let empty = empty_root();
            if *old_root != empty {
                return Err(MerkleError::OldRootMismatch {
                    expected: *old_root,
                    computed: empty,
                });
            }
            if new_size == 0 && *new_root != empty {
                return Err(MerkleError::NewRootMismatch {
                    expected: *new_root,
                    computed: empty,
                });
            }
            return Ok(());
        }
        if old_root != new_root {
            return Err(MerkleError::SameSizeRootMismatch {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        return Ok(());
    }

    let expected = consistency_proof_len(old_size, new_size);
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            expected,
            found: proof.len(),
        });
    }
    let length_error = MerkleError::ProofLength {
        expected,
        found: proof.len(),
    };

    // Step 2: a power-of-two old tree is a node of the new tree, and the proof
    // omits it; the walk starts from the old root itself.
    let (first, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(length_error),
        }
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if sn == 0 {
            // Unreachable after the length check; kept as the RFC states it.
            return Err(length_error);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(length_error);
    }
    if fr != *old_root {
        return Err(MerkleError::OldRootMismatch {
            expected: *old_root,
            computed: fr,
        });
    }
    if sr != *new_root {
        return Err(MerkleError::NewRootMismatch {
            expected: *new_root,
            computed: sr,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Number of `node_hash` calls on this test thread.
        pub(super) static NODE_HASHES: Cell<u64> = const { Cell::new(0) };
    }

    /// Decodes a 64-digit hex string (test data only).
    fn h(s: &str) -> Hash {
        assert_eq!(s.len(), 64, "test hash {s} is not 64 hex digits");
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("test hash is hex");
        }
        out
    }

    /// Deterministic, distinct leaf hashes 0..n.
    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// The eight inputs of the Certificate Transparency reference tests.
    fn ct_leaves() -> Vec<Hash> {
        let inputs: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        inputs.iter().map(|d| leaf_hash(d)).collect()
    }

    /// Published roots of the reference tree for sizes 0..=8.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// The sequence of hashing steps RFC 9162 §2.1.3.2 performs for an
    /// inclusion proof: `true` where the proof hash goes on the left.
    fn inclusion_walk(index: u64, size: u64) -> Option<Vec<bool>> {
        if index >= size {
            return None;
        }
        let (mut fn_, mut sn) = (index, size - 1);
        let mut steps = Vec::new();
        while sn != 0 {
            let left = fn_ & 1 == 1 || fn_ == sn;
            if left && fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
            steps.push(left);
            fn_ >>= 1;
            sn >>= 1;
        }
        Some(steps)
    }

    /// The sequence of hashing steps RFC 9162 §2.1.4.2 performs for a
    /// consistency proof (`0 < old < new`): whether the old root starts the
    /// walk, then `true` where both running hashes absorb the proof hash.
    fn consistency_walk(old: u64, new: u64) -> (bool, Vec<bool>) {
        let (mut fn_, mut sn) = (old - 1, new - 1);
        while fn_ & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
        let mut steps = Vec::new();
        while sn != 0 {
            let both = fn_ & 1 == 1 || fn_ == sn;
            if both && fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
            steps.push(both);
            fn_ >>= 1;
            sn >>= 1;
        }
        (old.is_power_of_two(), steps)
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    #[test]
    fn hashing_primitives_match_their_definitions() {
        // SHA-256("") and SHA-256(0x00), well-known values.
        assert_eq!(empty_root(), h(CT_ROOTS[0]));
        assert_eq!(leaf_hash(b""), h(CT_ROOTS[1]));
        // The domain separation bytes matter: a leaf hash is not a plain hash.
        assert_ne!(leaf_hash(b""), empty_root());
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut concat = vec![0x01];
        concat.extend_from_slice(&a);
        concat.extend_from_slice(&b);
        let direct: Hash = Sha256::digest(&concat).into();
        assert_eq!(node_hash(&a, &b), direct);
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }

    #[test]
    fn known_answer_three_leaves_by_hand() {
        let l: Vec<Hash> = [b"l0", b"l1", b"l2"]
            .iter()
            .map(|d| leaf_hash(*d))
            .collect();
        // MTH of 3 leaves splits at k = 2: node(node(l0, l1), l2).
        let expected = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        assert_eq!(root_from_leaves(&l), expected);
        let mut f = Frontier::new();
        for x in &l {
            f.push(*x);
        }
        assert_eq!(f.root(), expected);
        // PATH(2, D[3]) = { MTH(D[0:2]) }, PATH(0, D[3]) = { l1, l2 }.
        assert_eq!(
            inclusion_proof(&l, 2).unwrap(),
            vec![node_hash(&l[0], &l[1])]
        );
        assert_eq!(inclusion_proof(&l, 0).unwrap(), vec![l[1], l[2]]);
        // PROOF(2, D[3]) = { l2 } (the old tree is the node (l0, l1)).
        assert_eq!(consistency_proof(&l, 2).unwrap(), vec![l[2]]);
        // PROOF(1, D[3]) = { l1, l2 }.
        assert_eq!(consistency_proof(&l, 1).unwrap(), vec![l[1], l[2]]);
        // Five leaves: k = 4, so node(node(node(l0,l1), node(l2,l3)), l4).
        let l5 = leaves(5);
        let expected5 = node_hash(
            &node_hash(&node_hash(&l5[0], &l5[1]), &node_hash(&l5[2], &l5[3])),
            &l5[4],
        );
        assert_eq!(root_from_leaves(&l5), expected5);
    }

    #[test]
    fn known_answer_ct_reference_roots() {
        let l = ct_leaves();
        let mut f = Frontier::new();
        assert_eq!(f.root(), h(CT_ROOTS[0]));
        for n in 1..=8 {
            f.push(l[n - 1]);
            assert_eq!(root_from_leaves(&l[..n]), h(CT_ROOTS[n]), "size {n}");
            assert_eq!(f.root(), h(CT_ROOTS[n]), "frontier size {n}");
        }
    }

    #[test]
    fn known_answer_ct_reference_proofs() {
        let l = ct_leaves();
        let inclusion: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in inclusion {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            let got = inclusion_proof(&l[..size as usize], index).unwrap();
            assert_eq!(got, want, "inclusion {index} in {size}");
            verify_inclusion(
                index,
                size,
                &l[index as usize],
                &want,
                &h(CT_ROOTS[size as usize]),
            )
            .unwrap();
        }
        let consistency: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in consistency {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            let got = consistency_proof(&l[..new as usize], old).unwrap();
            assert_eq!(got, want, "consistency {old} -> {new}");
            verify_consistency(
                old,
                new,
                &h(CT_ROOTS[old as usize]),
                &h(CT_ROOTS[new as usize]),
                &want,
            )
            .unwrap();
        }
    }

    #[test]
    fn frontier_matches_reference_for_every_size_up_to_300() {
        let l = leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.size(), 0);
        assert_eq!(f.root(), empty_root());
        assert_eq!(root_from_leaves(&[]), empty_root());
        for n in 1..=300 {
            f.push(l[n - 1]);
            assert_eq!(f.size(), n as u64);
            assert_eq!(f.root(), root_from_leaves(&l[..n]), "size {n}");
            // One subtree per set bit of the size: memory stays logarithmic.
            assert_eq!(f.subtrees.len(), n.count_ones() as usize);
        }
    }

    #[test]
    fn frontier_matches_reference_for_large_sizes() {
        let l = leaves(20_001);
        let mut f = Frontier::new();
        let checkpoints = [1023, 1024, 1025, 4096, 16_383, 16_384, 16_385, 20_001];
        let mut pushed = 0;
        for &n in &checkpoints {
            while pushed < n {
                f.push(l[pushed]);
                pushed += 1;
            }
            assert_eq!(f.root(), root_from_leaves(&l[..n]), "size {n}");
        }
        // Equality and cloning compare the whole state.
        let g = f.clone();
        assert_eq!(f, g);
        f.push(l[0]);
        assert_ne!(f, g);
    }

    #[test]
    fn inclusion_proofs_for_all_pairs_up_to_70() {
        let l = leaves(70);
        for size in 1..=70usize {
            let tree = &l[..size];
            let root = root_from_leaves(tree);
            for index in 0..size {
                let proof = inclusion_proof(tree, index as u64).unwrap();
                assert_eq!(proof.len(), inclusion_proof_len(index as u64, size as u64));
                verify_inclusion(index as u64, size as u64, &tree[index], &proof, &root)
                    .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
                // The proof of one leaf does not prove another leaf there.
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(
                        index as u64,
                        size as u64,
                        &tree[other],
                        &proof,
                        &root
                    )
                    .is_err());
                }
            }
        }
    }

    #[test]
    fn inclusion_rejects_every_tampering() {
        let l = leaves(70);
        for &(index, size) in &[
            (0usize, 1usize),
            (0, 2),
            (1, 2),
            (2, 3),
            (6, 7),
            (13, 37),
            (64, 65),
            (35, 70),
            (69, 70),
        ] {
            let tree = &l[..size];
            let root = root_from_leaves(tree);
            let proof = inclusion_proof(tree, index as u64).unwrap();
            let (i, n) = (index as u64, size as u64);
            verify_inclusion(i, n, &tree[index], &proof, &root).unwrap();
            // Every single-bit flip of every proof hash.
            for k in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], bit);
                    assert!(
                        matches!(
                            verify_inclusion(i, n, &tree[index], &bad, &root),
                            Err(MerkleError::InclusionRootMismatch { .. })
                        ),
                        "flip hash {k} bit {bit} of ({index}, {size})"
                    );
                }
            }
            // Every single-bit flip of the leaf and of the root.
            for bit in 0..256 {
                assert!(verify_inclusion(i, n, &flip(&tree[index], bit), &proof, &root).is_err());
                assert!(verify_inclusion(i, n, &tree[index], &proof, &flip(&root, bit)).is_err());
            }
            // Wrong index, wrong size.
            for j in 0..n + 2 {
                if j != i {
                    assert!(
                        verify_inclusion(j, n, &tree[index], &proof, &root).is_err(),
                        "index {j}"
                    );
                }
            }
            // A proof is bound to its size only through the shape of the walk:
            // another size whose walk is step for step the same computation
            // (e.g. index 13 in 33 or 37 leaves) necessarily accepts it, which
            // is why the size must come from the signed checkpoint. Every size
            // with a different walk is rejected.
            for m in 0..n + 40 {
                if m == n {
                    continue;
                }
                let accepted = verify_inclusion(i, m, &tree[index], &proof, &root).is_ok();
                let same_walk = inclusion_walk(i, m) == inclusion_walk(i, n);
                assert_eq!(
                    accepted, same_walk,
                    "index {index}: size {m} instead of {size}"
                );
            }
            // Truncated and extended proofs.
            if !proof.is_empty() {
                assert!(matches!(
                    verify_inclusion(i, n, &tree[index], &proof[..proof.len() - 1], &root),
                    Err(MerkleError::ProofLength { .. })
                ));
                assert!(verify_inclusion(i, n, &tree[index], &proof[1..], &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(matches!(
                verify_inclusion(i, n, &tree[index], &longer, &root),
                Err(MerkleError::ProofLength { .. })
            ));
            // A proof with its hashes reordered fails.
            if proof.len() >= 2 {
                let mut swapped = proof.clone();
                swapped.swap(0, 1);
                assert!(verify_inclusion(i, n, &tree[index], &swapped, &root).is_err());
            }
        }
    }

    #[test]
    fn inclusion_edge_cases() {
        let l = leaves(4);
        assert_eq!(
            inclusion_proof(&l, 4),
            Err(MerkleError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert!(inclusion_proof(&[], 0).is_err());
        assert_eq!(
            verify_inclusion(0, 0, &l[0], &[], &empty_root()),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert!(verify_inclusion(u64::MAX, u64::MAX, &l[0], &[], &l[0]).is_err());
        assert!(verify_inclusion(u64::MAX - 1, u64::MAX, &l[0], &[l[1]; 64], &l[0]).is_err());
        // A single-leaf tree: the leaf is the root, the proof is empty.
        verify_inclusion(0, 1, &l[0], &[], &l[0]).unwrap();
        assert!(verify_inclusion(0, 1, &l[0], &[l[1]], &node_hash(&l[0], &l[1])).is_err());
        // Huge sizes do not panic or loop: 64 levels at most.
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
        // The last leaf of 2^64 - 1 leaves is alone on the right: 63 siblings.
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), 63);
    }

    #[test]
    fn consistency_proofs_for_all_pairs_up_to_70() {
        let l = leaves(70);
        let roots: Vec<Hash> = (0..=70).map(|n| root_from_leaves(&l[..n])).collect();
        for new in 0..=70usize {
            let tree = &l[..new];
            for old in 0..=new {
                let proof = consistency_proof(tree, old as u64).unwrap();
                if old > 0 && old < new {
                    assert_eq!(proof.len(), consistency_proof_len(old as u64, new as u64));
                } else {
                    assert!(proof.is_empty());
                }
                verify_consistency(old as u64, new as u64, &roots[old], &roots[new], &proof)
                    .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
                // Swapping the roots fails unless they are equal.
                if roots[old] != roots[new] {
                    assert!(verify_consistency(
                        old as u64,
                        new as u64,
                        &roots[new],
                        &roots[old],
                        &proof
                    )
                    .is_err());
                }
            }
        }
    }

    #[test]
    fn consistency_rejects_every_tampering() {
        let l = leaves(70);
        let pairs = [
            (1usize, 2usize),
            (1, 8),
            (2, 5),
            (3, 7),
            (4, 8),
            (6, 8),
            (7, 70),
            (32, 33),
            (33, 64),
            (37, 69),
            (64, 70),
        ];
        for &(old, new) in &pairs {
            let (m, n) = (old as u64, new as u64);
            let old_root = root_from_leaves(&l[..old]);
            let new_root = root_from_leaves(&l[..new]);
            let proof = consistency_proof(&l[..new], m).unwrap();
            verify_consistency(m, n, &old_root, &new_root, &proof).unwrap();
            for k in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], bit);
                    assert!(
                        verify_consistency(m, n, &old_root, &new_root, &bad).is_err(),
                        "flip hash {k} bit {bit} of {old} -> {new}"
                    );
                }
            }
            for bit in 0..256 {
                assert!(
                    verify_consistency(m, n, &flip(&old_root, bit), &new_root, &proof).is_err()
                );
                assert!(
                    verify_consistency(m, n, &old_root, &flip(&new_root, bit), &proof).is_err()
                );
            }
            // Wrong sizes.
            // As for inclusion, only sizes whose walk is the same computation
            // accept the proof (e.g. 1 -> 2 and 2 -> 3 both hash the one proof
            // hash to the right of the old root).
            let mut rejected = 0;
            for a in 0..=n + 2 {
                for b in 0..=n + 2 {
                    if (a, b) == (m, n) {
                        continue;
                    }
                    let accepted = verify_consistency(a, b, &old_root, &new_root, &proof).is_ok();
                    let same_walk =
                        a > 0 && a < b && consistency_walk(a, b) == consistency_walk(m, n);
                    assert_eq!(
                        accepted, same_walk,
                        "sizes {a} -> {b} for a proof of {old} -> {new}"
                    );
                    rejected += usize::from(!accepted);
                }
            }
            assert!(rejected > 0);
            // Truncated and extended proofs.
            assert!(matches!(
                verify_consistency(m, n, &old_root, &new_root, &proof[..proof.len() - 1]),
                Err(MerkleError::ProofLength { .. })
            ));
            assert!(verify_consistency(m, n, &old_root, &new_root, &proof[1..]).is_err());
            let mut longer = proof.clone();
            longer.push(new_root);
            assert!(matches!(
                verify_consistency(m, n, &old_root, &new_root, &longer),
                Err(MerkleError::ProofLength { .. })
            ));
            let mut prefixed = vec![old_root];
            prefixed.extend_from_slice(&proof);
            assert!(verify_consistency(m, n, &old_root, &new_root, &prefixed).is_err());
            assert!(verify_consistency(m, n, &old_root, &new_root, &[]).is_err());
        }
    }

    #[test]
    fn consistency_rejects_a_fork() {
        let l = leaves(40);
        for changed in [0usize, 5, 12, 19] {
            let mut fork = l.clone();
            fork[changed] = leaf_hash(b"a different event");
            for old in (changed + 1)..=20 {
                let old_root = root_from_leaves(&l[..old]);
                // Same size, one different leaf: a fork, never consistent.
                let fork_root = root_from_leaves(&fork[..old]);
                assert!(matches!(
                    verify_consistency(old as u64, old as u64, &old_root, &fork_root, &[]),
                    Err(MerkleError::SameSizeRootMismatch { .. })
                ));
                // A longer tree grown from the fork is not consistent with the
                // original old tree, whatever honest proof the fork's log gives.
                for new in [old, old + 1, 33, 40] {
                    let fork_new_root = root_from_leaves(&fork[..new]);
                    let proof = consistency_proof(&fork[..new], old as u64).unwrap();
                    assert!(
                        verify_consistency(
                            old as u64,
                            new as u64,
                            &old_root,
                            &fork_new_root,
                            &proof
                        )
                        .is_err(),
                        "fork at {changed}: {old} -> {new} accepted"
                    );
                    // Nor is the original proof valid for the forked new tree.
                    let proof = consistency_proof(&l[..new], old as u64).unwrap();
                    assert!(verify_consistency(
                        old as u64,
                        new as u64,
                        &old_root,
                        &fork_new_root,
                        &proof
                    )
                    .is_err());
                }
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let l = leaves(8);
        let root8 = root_from_leaves(&l);
        let root5 = root_from_leaves(&l[..5]);
        // Equal sizes: empty proof, equal roots.
        verify_consistency(8, 8, &root8, &root8, &[]).unwrap();
        assert_eq!(
            verify_consistency(8, 8, &root8, &root8, &[root8]),
            Err(MerkleError::ProofLength {
                expected: 0,
                found: 1
            })
        );
        // Old size 0: the empty tree is a prefix of every tree, but its root
        // must be the empty root and the proof must be empty.
        assert_eq!(consistency_proof(&l, 0).unwrap(), Vec::<Hash>::new());
        verify_consistency(0, 8, &empty_root(), &root8, &[]).unwrap();
        verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
        assert!(verify_consistency(0, 0, &empty_root(), &root8, &[]).is_err());
        assert!(matches!(
            verify_consistency(0, 8, &root8, &root8, &[]),
            Err(MerkleError::OldRootMismatch { .. })
        ));
        assert!(verify_consistency(0, 8, &empty_root(), &root8, &[root8]).is_err());
        // Old larger than new.
        assert_eq!(
            consistency_proof(&l[..5], 8),
            Err(MerkleError::OldSizeTooLarge {
                old_size: 8,
                new_size: 5
            })
        );
        assert_eq!(
            verify_consistency(8, 5, &root8, &root5, &[]),
            Err(MerkleError::OldSizeTooLarge {
                old_size: 8,
                new_size: 5
            })
        );
        // Huge sizes and garbage proofs do not panic.
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &root5, &root8, &[root5; 3]).is_err());
        assert!(verify_consistency(1, u64::MAX, &root5, &root8, &[root5; 64]).is_err());
        assert!(verify_consistency(u64::MAX, u64::MAX, &root5, &root5, &[]).is_ok());
        assert_eq!(consistency_proof_len(1, u64::MAX), 64);
    }

    #[test]
    fn proof_generation_is_linear() {
        // The proof's subtrees are disjoint, so generating a proof hashes each
        // leaf into at most one subtree root: fewer than n node hashes.
        let n = (1 << 14) + 3;
        let l = leaves(n);
        let root = root_from_leaves(&l);
        let count = |f: &dyn Fn() -> Vec<Hash>| {
            NODE_HASHES.with(|c| c.set(0));
            let proof = f();
            (proof, NODE_HASHES.with(|c| c.get()))
        };
        for index in [0u64, 1, 8_191, 8_192, n as u64 - 1] {
            let (proof, hashes) = count(&|| inclusion_proof(&l, index).unwrap());
            assert!(
                hashes < n as u64,
                "inclusion of {index}: {hashes} node hashes"
            );
            verify_inclusion(index, n as u64, &l[index as usize], &proof, &root).unwrap();
        }
        for old in [1u64, 1000, 8_192, 12_345, n as u64 - 1] {
            let (proof, hashes) = count(&|| consistency_proof(&l, old).unwrap());
            assert!(
                hashes < n as u64,
                "consistency from {old}: {hashes} node hashes"
            );
            let old_root = root_from_leaves(&l[..old as usize]);
            verify_consistency(old, n as u64, &old_root, &root, &proof).unwrap();
        }
        // The frontier hashes each leaf into the tree once, amortised.
        let mut f = Frontier::new();
        NODE_HASHES.with(|c| c.set(0));
        for x in &l {
            f.push(*x);
        }
        assert!(NODE_HASHES.with(|c| c.get()) < n as u64);
    }

    #[test]
    fn error_messages_are_lowercase_and_say_expected_and_found() {
        let e = MerkleError::ProofLength {
            expected: 3,
            found: 4,
        };
        assert_eq!(
            e.to_string(),
            "proof has the wrong length: expected 3 hashes, found 4"
        );
        let e = MerkleError::InclusionRootMismatch {
            expected: [0; 32],
            computed: [0xff; 32],
        };
        let s = e.to_string();
        assert!(
            s.contains(&"00".repeat(32)) && s.contains(&"ff".repeat(32)),
            "{s}"
        );
        assert!(s.starts_with(char::is_lowercase));
    }
}
