//! A bump allocator for transform modules.
//!
//! The host runs every call in a fresh instance and throws the instance away
//! afterwards, so memory never has to be given back within a module's life:
//! allocation only moves a pointer forward. Freeing or growing the most recent
//! block works in place, which covers the common cases of a `Vec` or `String`
//! that grows while it is built and of a temporary freed right away. Other
//! frees are ignored, so a transform that churns through many short-lived
//! buffers uses more memory than with a general allocator. The host's memory
//! cap still bounds it.
//!
//! Disable the `arena` feature to keep the Rust standard allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;

/// WebAssembly page size.
const PAGE: usize = 65_536;

/// Pages requested at least per `memory.grow` (256 KiB), so that a batch of
/// many small allocations does not call into the host for every page. A
/// larger minimum slows calls that allocate little, because the host resets
/// grown memory after every call: with 64 pages an empty call took 106 µs
/// instead of 24.
const MIN_GROW_PAGES: usize = 4;

/// The global allocator installed by this crate on `wasm32`.
pub struct Arena {
    state: UnsafeCell<State>,
}

#[derive(Clone, Copy)]
struct State {
    /// First free byte, or 0 before the first allocation.
    next: usize,
    /// End of the memory the arena owns.
    end: usize,
    /// Highest `next` ever reached: bytes at or above it are still zero, as
    /// `memory.grow` returns them.
    high: usize,
}

// SAFETY: wasm32-unknown-unknown modules run on one thread, and the host never
// shares an instance between threads.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena {
            state: UnsafeCell::new(State {
                next: 0,
                end: 0,
                high: 0,
            }),
        }
    }

    /// Returns the start of a block of `layout`, growing memory as needed.
    ///
    /// # Safety
    ///
    /// Callers must hold the only reference to the state (one thread).
    unsafe fn bump(&self, layout: Layout) -> Option<usize> {
        // SAFETY: single-threaded, and no reference to the state outlives this call.
        let state = unsafe { &mut *self.state.get() };
        if state.next == 0 {
            // Start at the current end of memory: everything below belongs to
            // the module's data and stack.
            let pages = core::arch::wasm32::memory_size(0);
            state.next = pages * PAGE;
            state.end = state.next;
            state.high = state.next;
        }
        let start = state.next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        if end > state.end {
            grow(state, end)?;
        }
        state.next = end;
        state.high = state.high.max(end);
        Some(start)
    }
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

/// Grows memory so that `state.end` reaches at least `needed`. Asks for
/// [`MIN_GROW_PAGES`] first and falls back to the exact need, so that the
/// last allocation before the host's memory cap still succeeds.
fn grow(state: &mut State, needed: usize) -> Option<()> {
    let missing = (needed - state.end).div_ceil(PAGE);
    for pages in [missing.max(MIN_GROW_PAGES), missing] {
        if core::arch::wasm32::memory_grow(0, pages) != usize::MAX {
            state.end += pages * PAGE;
            return Some(());
        }
    }
    None
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: one thread; see `bump`.
        match unsafe { self.bump(layout) } {
            Some(start) => start as *mut u8,
            None => std::ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: one thread; the state is read before and after `bump` only.
        let high = unsafe { (*self.state.get()).high };
        let pointer = unsafe { self.alloc(layout) };
        if !pointer.is_null() {
            // Memory above the old high-water mark has never been written.
            let dirty = (pointer as usize).min(high);
            let dirty_len = high.saturating_sub(pointer as usize).min(layout.size());
            if dirty_len > 0 {
                // SAFETY: the block starts at `dirty` and is `layout.size()` long.
                unsafe { std::ptr::write_bytes(dirty as *mut u8, 0, dirty_len) };
            }
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: one thread; see `bump`.
        let state = unsafe { &mut *self.state.get() };
        if pointer as usize + layout.size() == state.next {
            state.next = pointer as usize;
        }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = pointer as usize;
        {
            // SAFETY: one thread; the reference ends before `alloc` below.
            let state = unsafe { &mut *self.state.get() };
            if start + layout.size() == state.next {
                // The most recent block grows or shrinks where it is.
                let Some(end) = start.checked_add(new_size) else {
                    return std::ptr::null_mut();
                };
                if end > state.end && grow(state, end).is_none() {
                    return std::ptr::null_mut();
                }
                state.next = end;
                state.high = state.high.max(end);
                return pointer;
            }
        }
        if new_size <= layout.size() {
            return pointer;
        }
        // SAFETY: `new_size` with the old alignment is a valid layout, as the
        // `GlobalAlloc::realloc` contract requires of the caller.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are at least `layout.size()` long and distinct.
            unsafe { std::ptr::copy_nonoverlapping(pointer, moved, layout.size()) };
        }
        moved
    }
}
