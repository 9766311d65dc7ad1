//! Texts numbered in first-seen order, so that the model counts integers, not strings.
//!
//! Every feature value and actor name the model meets is given a dense `u32` id once; the
//! histograms are keyed by those ids. Hashes come from one fixed hasher, so that the extraction
//! stage (on other cores) can hash a value before the model looks it up.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// The hash of a text, as [`Interner`] takes it.
pub fn text_hash(text: &str) -> u64 {
    // A fixed seed: the hash is computed where a value is extracted and used where it is
    // scored. It never leaves the process.
    foldhash::fast::FixedState::with_seed(0x6372_6573_745f_7066).hash_one(text)
}

/// Texts and their ids (`0, 1, 2 …` in the order they were first seen).
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    table: HashTable<u32>,
    texts: Vec<Box<str>>,
    hashes: Vec<u64>,
    /// Each text read as an integer, when it is one (hour buckets, numeric bins).
    numbers: Vec<Option<i64>>,
}

impl Interner {
    /// The id of `text` (whose hash is `hash`), if it has one.
    pub(crate) fn get(&self, hash: u64, text: &str) -> Option<u32> {
        self.table.find(hash, |&id| *self.texts[id as usize] == *text).copied()
    }

    /// The id of `text`, given one if it is new.
    pub(crate) fn intern(&mut self, hash: u64, text: &str) -> u32 {
        let Interner { table, texts, hashes, numbers } = self;
        *table
            .entry(hash, |&id| *texts[id as usize] == *text, |&id| hashes[id as usize])
            .or_insert_with(|| {
                let id = u32::try_from(texts.len()).expect("fewer than 2^32 distinct texts");
                texts.push(text.into());
                hashes.push(hash);
                numbers.push(text.parse().ok());
                id
            })
            .get()
    }

    /// The text of an id.
    pub(crate) fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    /// The text of an id read as an integer, if it is one.
    pub(crate) fn number(&self, id: u32) -> Option<i64> {
        self.numbers[id as usize]
    }

    /// How many texts have ids.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_stable() {
        let mut i = Interner::default();
        let words = ["b", "a", "b", "", "a", "c"];
        let ids: Vec<u32> = words.iter().map(|w| i.intern(text_hash(w), w)).collect();
        assert_eq!(ids, [0, 1, 0, 2, 1, 3]);
        assert_eq!(i.len(), 4);
        assert_eq!(i.text(2), "");
        assert_eq!((i.number(2), i.number(0)), (None, None));
        let minus = i.intern(text_hash("-12"), "-12");
        assert_eq!(i.number(minus), Some(-12));
        assert_eq!(i.get(text_hash("c"), "c"), Some(3));
        assert_eq!(i.get(text_hash("d"), "d"), None);
        // Many texts: the table grows and keeps every id.
        for n in 0..10_000 {
            let t = n.to_string();
            let id = i.intern(text_hash(&t), &t);
            assert_eq!(i.text(id), t);
        }
        assert_eq!(i.get(text_hash("777"), "777").map(|id| i.text(id)), Some("777"));
    }
}
