//! The CRC-32 of a family's column of chunks, kept as a tree of combined CRCs: when one
//! chunk of a column changes, the column's CRC is recombined along one path (log2 of the
//! column's length, 9 pairs at 10k resources) instead of over all of its chunks (365). A
//! combine costs a few hundred nanoseconds, so a column done over was about 0.1 ms, and a
//! change in one resource touches a dozen columns.
//!
//! Must never: give a CRC that differs from the CRC-32 of the column's texts concatenated
//! (tested against it), or keep leaves of a column that grew or shrank.

/// A CRC-32 and the length of the text it covers; (0, 0) is the empty text.
pub type Crc = (u32, u64);

/// The CRC of `a` followed by `b`.
pub fn combine(a: Crc, b: Crc) -> Crc {
    if b.1 == 0 {
        return a;
    }
    if a.1 == 0 {
        return b;
    }
    let mut h = crc32fast::Hasher::new_with_initial_len(a.0, a.1);
    h.combine(&crc32fast::Hasher::new_with_initial_len(b.0, b.1));
    (h.finalize(), a.1 + b.1)
}

/// One column's chunks: each leaf is a chunk's text digest and CRC; every inner node the
/// combination of its two children, in order. Padded with empty leaves to a power of two.
#[derive(Debug, Clone, Default)]
pub struct CrcTree {
    digests: Vec<u128>,
    /// 1-based heap order: node `i` has children `2i` and `2i + 1`; leaves from `width`.
    nodes: Vec<Crc>,
    width: usize,
    /// Pairs combined since the tree was made (tests read it).
    combined: u64,
}

impl CrcTree {
    /// Takes the column's chunks now, in order, as (text digest, CRC); returns the CRC of the
    /// whole column. Chunks whose digest stayed at their place are not looked at again.
    pub fn update(&mut self, chunks: &[(u128, Crc)]) -> Crc {
        if chunks.len() != self.digests.len() {
            self.rebuild(chunks);
        } else {
            // Parents of changed leaves (a one-leaf tree has none: its leaf is its root).
            let mut dirty: Vec<usize> = Vec::new();
            for (i, &(digest, crc)) in chunks.iter().enumerate() {
                if self.digests[i] != digest {
                    self.digests[i] = digest;
                    self.nodes[self.width + i] = crc;
                    dirty.push((self.width + i) / 2);
                }
            }
            dirty.retain(|&i| i >= 1);
            // Level by level: the parents of sorted nodes are sorted, so equal ones are adjacent.
            while !dirty.is_empty() {
                dirty.dedup();
                for &i in &dirty {
                    self.nodes[i] = combine(self.nodes[2 * i], self.nodes[2 * i + 1]);
                    self.combined += 1;
                }
                dirty.retain_mut(|i| {
                    *i /= 2;
                    *i >= 1
                });
            }
        }
        self.total()
    }

    fn rebuild(&mut self, chunks: &[(u128, Crc)]) {
        self.width = chunks.len().next_power_of_two();
        self.digests.clear();
        self.nodes.clear();
        self.nodes.resize(2 * self.width, (0, 0));
        for (i, &(digest, crc)) in chunks.iter().enumerate() {
            self.digests.push(digest);
            self.nodes[self.width + i] = crc;
        }
        for i in (1..self.width).rev() {
            self.nodes[i] = combine(self.nodes[2 * i], self.nodes[2 * i + 1]);
            self.combined += 1;
        }
    }

    /// The root: node 1 (a one-leaf tree's leaf), nothing for an empty column.
    fn total(&self) -> Crc {
        self.nodes.get(1).copied().unwrap_or((0, 0))
    }

    /// Pairs combined so far (tests: that one change recombines one path).
    #[cfg(test)]
    pub fn combined(&self) -> u64 {
        self.combined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc_of(text: &[u8]) -> Crc {
        (crc32fast::hash(text), text.len() as u64)
    }

    fn chunks(texts: &[Vec<u8>]) -> Vec<(u128, Crc)> {
        texts
            .iter()
            .map(|t| (xxhash_rust::xxh3::xxh3_128(t), crc_of(t)))
            .collect()
    }

    fn whole(texts: &[Vec<u8>]) -> Crc {
        crc_of(&texts.concat())
    }

    /// Texts of varied lengths (some empty), from a seed.
    fn texts(n: usize, seed: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let len = (i as u64 * 7 + seed) % 23;
                (0..len).map(|j| (j * 31 + seed + i as u64) as u8).collect()
            })
            .collect()
    }

    #[test]
    fn the_tree_gives_the_crc_of_the_concatenated_column_for_every_length() {
        for n in 0..40 {
            let t = texts(n, 3);
            let mut tree = CrcTree::default();
            assert_eq!(tree.update(&chunks(&t)), whole(&t), "{n} chunks");
        }
    }

    #[test]
    fn changed_chunks_are_recombined_along_their_paths_only() {
        let mut t = texts(365, 5);
        let mut tree = CrcTree::default();
        tree.update(&chunks(&t));
        let before = tree.combined();
        t[200] = b"drbd_resource_role{name=\"r200\"} 2\n".to_vec();
        assert_eq!(tree.update(&chunks(&t)), whole(&t));
        // 512 leaves: a path of 9 inner nodes.
        assert_eq!(tree.combined() - before, 9);
        let before = tree.combined();
        assert_eq!(tree.update(&chunks(&t)), whole(&t));
        assert_eq!(tree.combined(), before, "nothing changed, nothing combined");
    }

    #[test]
    fn any_set_of_changes_and_any_resize_keep_the_crc_exact() {
        let mut t = texts(37, 1);
        let mut tree = CrcTree::default();
        for round in 0..60u64 {
            match round % 5 {
                // Change a few chunks, neighbours and far apart.
                0..=2 => {
                    for k in [round as usize % t.len(), (round as usize * 13) % t.len()] {
                        t[k] = format!("x{round}-{k}\n").into_bytes();
                    }
                }
                // Grow, then shrink.
                3 => t.push(format!("new {round}\n").into_bytes()),
                _ => {
                    t.remove(round as usize % t.len());
                }
            }
            assert_eq!(tree.update(&chunks(&t)), whole(&t), "round {round}");
        }
    }

    #[test]
    fn empty_texts_combine_as_the_identity_on_either_side() {
        let a = crc_of(b"drbd_device_written_bytes 1\n");
        assert_eq!(combine(a, (0, 0)), a);
        assert_eq!(combine((0, 0), a), a);
        assert_eq!(combine((0, 0), (0, 0)), (0, 0));
    }
}
