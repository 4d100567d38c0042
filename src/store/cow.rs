//! Copy-on-write vectors for a customer's large collections (its devices, their upload groups,
//! its batches and their device lists), in pieces: an export's snapshot shares every piece, and a
//! change afterwards copies only the piece it touches, so a snapshot held by a client that never
//! reads costs a few pieces per change, not a copy of the customer.

use std::sync::Arc;

/// Elements a piece of a [`Chunked`] holds: a change copies at most this many.
const CHUNK: usize = 1024;

/// A vector in pieces of [`CHUNK`] elements, each shared copy-on-write.
#[derive(Debug, Clone)]
pub(super) struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Chunked<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(super) fn last(&self) -> Option<&T> {
        self.chunks.last()?.last()
    }

    /// The element, its piece copied first if a snapshot shares it.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        Arc::make_mut(self.chunks.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    pub(super) fn push(&mut self, value: T) {
        // The first piece grows as a `Vec` does (a batch of five devices must not take a
        // thousand slots); later ones are made whole at once, so a large collection is not
        // left with the holes of every piece's growth.
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Arc::new(Vec::with_capacity(capacity)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(value);
            self.len += 1;
        }
    }

    /// Room for `additional` more elements in a new piece (so a batch of five devices takes
    /// five slots); a piece under way grows as a `Vec` does.
    pub(super) fn reserve(&mut self, additional: usize) {
        // Every piece but the last is whole, so positions stay `i / CHUNK`, `i % CHUNK`.
        if additional > 0 && self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            let capacity = if self.chunks.is_empty() {
                additional.min(CHUNK)
            } else {
                CHUNK
            };
            self.chunks.push(Arc::new(Vec::with_capacity(capacity)));
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The elements from position `start` on.
    pub(super) fn iter_from(&self, start: usize) -> impl Iterator<Item = &T> {
        let first = start / CHUNK;
        self.chunks
            .iter()
            .skip(first)
            .enumerate()
            .flat_map(move |(k, c)| c.iter().skip(if k == 0 { start % CHUNK } else { 0 }))
    }

    /// Drops the leading pieces whose every element is `dead`, and returns how many elements
    /// went: only whole pieces (so positions stay `i / CHUNK`, `i % CHUNK`), or every element
    /// when all are dead.
    pub(super) fn drop_front(&mut self, dead: impl Fn(&T) -> bool) -> usize {
        let whole = self
            .chunks
            .iter()
            .take_while(|c| c.len() == CHUNK && c.iter().all(&dead))
            .count();
        let gone = if self.chunks[whole..].iter().all(|c| c.iter().all(&dead)) {
            std::mem::take(&mut self.chunks);
            self.len
        } else {
            self.chunks.drain(..whole);
            whole * CHUNK
        };
        self.len -= gone;
        gone
    }

    /// Changes the elements `pick` selects, copying only the pieces that hold one.
    pub(super) fn update_where(
        &mut self,
        mut pick: impl FnMut(&T) -> bool,
        mut change: impl FnMut(&mut T),
    ) {
        for chunk in &mut self.chunks {
            if chunk.iter().any(&mut pick) {
                for value in Arc::make_mut(chunk).iter_mut() {
                    if pick(value) {
                        change(value);
                    }
                }
            }
        }
    }

    /// Every element, for changing: copies every piece a snapshot shares.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks
            .iter_mut()
            .flat_map(|c| Arc::make_mut(c).iter_mut())
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    /// Whole pieces from the start, as a rebuilt collection is not going to grow piece by piece.
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut chunks = Vec::new();
        let mut len = 0;
        let mut iter = iter.into_iter().peekable();
        while iter.peek().is_some() {
            let piece: Vec<T> = iter.by_ref().take(CHUNK).collect();
            len += piece.len();
            chunks.push(Arc::new(piece));
        }
        Self { chunks, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_vector_reads_back_what_was_pushed_across_pieces() {
        let mut v = Chunked::default();
        v.reserve(3);
        for i in 0..(3 * CHUNK + 5) {
            v.push(i);
            if i % 700 == 0 {
                v.reserve(i % 3);
            }
        }
        assert_eq!(v.len(), 3 * CHUNK + 5);
        assert_eq!(v.get(CHUNK), Some(&CHUNK));
        assert_eq!(v.get(3 * CHUNK + 5), None);
        assert!(v.iter().copied().eq(0..3 * CHUNK + 5));
        for start in [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            2 * CHUNK + 3,
            3 * CHUNK + 5,
            4 * CHUNK,
        ] {
            assert!(
                v.iter_from(start).copied().eq(start..3 * CHUNK + 5),
                "{start}"
            );
        }
        *v.get_mut(7).unwrap() = 70;
        v.update_where(|x| *x % CHUNK == 1, |x| *x = 0);
        assert_eq!(v.get(7), Some(&70));
        assert_eq!(v.get(CHUNK + 1), Some(&0));
    }

    #[test]
    fn a_copy_shares_every_piece_until_one_changes() {
        let mut v = Chunked::default();
        for i in 0..(4 * CHUNK) {
            v.push(i);
        }
        let snapshot = v.clone();
        *v.get_mut(CHUNK + 2).unwrap() = 0;
        v.push(1);
        v.update_where(|x| *x == 5, |x| *x = 6);
        assert_eq!(snapshot.get(CHUNK + 2), Some(&(CHUNK + 2)));
        assert_eq!(snapshot.len(), 4 * CHUNK);
        let shared = v
            .chunks
            .iter()
            .zip(&snapshot.chunks)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        // Pieces 0 (the 5) and 1 (the 0) were copied; 2 and 3 are still shared.
        assert_eq!(shared, 2);
    }

    #[test]
    fn a_collected_vector_is_whole_pieces_and_keeps_growing() {
        let mut v: Chunked<usize> = (0..2 * CHUNK + 3).collect();
        assert_eq!(v.len(), 2 * CHUNK + 3);
        assert_eq!(v.chunks.len(), 3);
        assert_eq!(v.last(), Some(&(2 * CHUNK + 2)));
        v.push(2 * CHUNK + 3);
        assert!(v.iter().copied().eq(0..2 * CHUNK + 4));
        let empty: Chunked<usize> = std::iter::empty().collect();
        assert!(empty.is_empty());
        assert_eq!(empty.last(), None);
    }

    #[test]
    fn leading_dead_pieces_are_dropped_whole_or_all_at_once() {
        let mut v: Chunked<usize> = (0..3 * CHUNK + 2).collect();
        // Not a whole dead piece: nothing goes.
        assert_eq!(v.drop_front(|x| *x < CHUNK - 1), 0);
        assert_eq!(v.drop_front(|x| *x < 2 * CHUNK + 5), 2 * CHUNK);
        assert_eq!(v.len(), CHUNK + 2);
        assert_eq!(v.get(0), Some(&(2 * CHUNK)));
        assert_eq!(v.drop_front(|_| true), CHUNK + 2);
        assert!(v.is_empty());
        v.push(7);
        assert!(v.iter().copied().eq([7]));
    }
}
