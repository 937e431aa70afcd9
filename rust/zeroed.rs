//! A fixed-size table that starts all zeros, for tables read at random (the piece cache).
//!
//! On Linux the table gets memory of its own, aligned to 2 MiB and marked for transparent huge
//! pages (`MADV_HUGEPAGE`, which systems set to `madvise` honour): a lookup at random in a
//! 4 MiB table then needs one of two TLB entries instead of one of 1,024. Where the system gives
//! no huge pages the table is as before: zero pages the kernel fills in as they are touched.
//! Elsewhere it comes from the global allocator, zeroed.
//!
//! Measured on the piece cache (best of alternating pinned runs): the count of a base64 blob
//! seen before, o200k 9.5 -> 8.7 ms per MB; English, code and multilingual text 1-3% faster.
//! Steadier too: the best English count of 30 in each of 5 processes ranged 2.03-3.17 ms on
//! 4 KiB pages (where the table's pages land in the caches differs by process), 1.97-2.00 ms
//! on huge pages.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
/// Every bit pattern of zeros must be a valid `Self`.
pub unsafe trait Zeroable: Copy {}

/// `N` values of `T`, all zeros at first.
pub struct ZeroedTable<T: Zeroable, const N: usize> {
    table: NonNull<[T; N]>,
    /// What to give back: the mapping (Linux) or the allocation.
    #[cfg(target_os = "linux")]
    mapping: (NonNull<libc::c_void>, usize),
}

#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

impl<T: Zeroable, const N: usize> ZeroedTable<T, N> {
    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::new::<[T; N]>()
    }

    /// A new table; aborts as the allocator does when there is no memory.
    #[cfg(target_os = "linux")]
    pub fn new() -> Self {
        let layout = Self::layout();
        assert!(layout.size() > 0 && layout.align() <= HUGE_PAGE);
        // Room to start the table at a multiple of 2 MiB; pages never touched cost nothing.
        let len = layout.size() + HUGE_PAGE;
        // SAFETY: an anonymous private mapping, checked before use; its pages read as zeros.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        let skip = (HUGE_PAGE - base as usize % HUGE_PAGE) % HUGE_PAGE;
        // SAFETY: `skip < HUGE_PAGE`, so the table's `layout.size()` bytes lie in the mapping.
        let start = unsafe { (base as *mut u8).add(skip) };
        // SAFETY: a range of the mapping. Only advice: when refused, the table still works.
        unsafe {
            libc::madvise(start.cast(), layout.size(), libc::MADV_HUGEPAGE);
        }
        ZeroedTable {
            table: NonNull::new(start.cast()).expect("mmap gave a non-null address"),
            mapping: (
                NonNull::new(base).expect("mmap gave a non-null address"),
                len,
            ),
        }
    }

    /// A new table; aborts as the allocator does when there is no memory.
    #[cfg(not(target_os = "linux"))]
    pub fn new() -> Self {
        let layout = Self::layout();
        assert!(layout.size() > 0);
        // SAFETY: the layout is non-empty; checked for null before use.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(table) = NonNull::new(ptr.cast()) else {
            std::alloc::handle_alloc_error(layout);
        };
        ZeroedTable { table }
    }
}

impl<T: Zeroable, const N: usize> Default for ZeroedTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Zeroable, const N: usize> Drop for ZeroedTable<T, N> {
    fn drop(&mut self) {
        // SAFETY: the mapping (or allocation) made in `new`, given back once.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::munmap(self.mapping.0.as_ptr(), self.mapping.1);
        }
        #[cfg(not(target_os = "linux"))]
        unsafe {
            std::alloc::dealloc(self.table.as_ptr().cast(), Self::layout());
        }
    }
}

impl<T: Zeroable, const N: usize> Deref for ZeroedTable<T, N> {
    type Target = [T; N];

    #[inline(always)]
    fn deref(&self) -> &[T; N] {
        // SAFETY: `N` values, valid from the start (zeros are valid), owned by `self`.
        unsafe { self.table.as_ref() }
    }
}

impl<T: Zeroable, const N: usize> DerefMut for ZeroedTable<T, N> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T; N] {
        // SAFETY: as in `deref`, borrowed mutably through `&mut self`.
        unsafe { self.table.as_mut() }
    }
}

// SAFETY: the table owns its values as a Box would.
unsafe impl<T: Zeroable + Send, const N: usize> Send for ZeroedTable<T, N> {}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe impl Zeroable for u64 {}

    #[test]
    fn a_table_starts_zeroed_keeps_what_is_written_and_is_aligned() {
        let mut t = ZeroedTable::<u64, { 1 << 19 }>::new();
        assert!(t.iter().all(|&v| v == 0));
        t[0] = 1;
        t[(1 << 19) - 1] = 2;
        assert_eq!((t[0], t[(1 << 19) - 1]), (1, 2));
        #[cfg(target_os = "linux")]
        assert_eq!(t.as_ptr() as usize % HUGE_PAGE, 0);
        // Many tables come and go (threads of a pool): each gives its memory back.
        for _ in 0..200 {
            drop(ZeroedTable::<u64, { 1 << 19 }>::new());
        }
    }
}
