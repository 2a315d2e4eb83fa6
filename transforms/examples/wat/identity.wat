;; identity: a polystat transform written by hand in the WebAssembly text format,
;; to show that the ABI needs nothing from Rust. It returns its input records
;; unchanged.
;;
;; The input document is {"params": ..., "records": [...]}. ABI version 1 ignores
;; output members other than "records" and "error", so returning the input bytes
;; as they are is a valid output whose records are the input records.
;;
;; Convert to a binary module with any WAT tool (for example `wasm-tools parse
;; identity.wat -o identity.wasm`); the host tests convert it with the `wat` crate.
(module
  ;; One 64 KiB page to start with; polystat_alloc grows it as needed.
  (memory (export "memory") 1)

  ;; Next free byte. Addresses below 1024 are left unused.
  (global $heap (mut i32) (i32.const 1024))

  (func (export "polystat_abi_version") (result i32)
    (i32.const 1))

  ;; Bump allocator: returns the current heap address and moves it past $len
  ;; bytes, growing memory when the block ends beyond the last page. Memory is
  ;; never freed, because the host uses each instance for one call only.
  (func (export "polystat_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    (local $missing_pages i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (global.set $heap (local.get $end))
    ;; Pages needed to hold $end bytes, rounded up, minus the pages there are.
    (local.set $missing_pages
      (i32.sub
        (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $missing_pages) (i32.const 0))
      (then
        ;; memory.grow returns -1 when the host's memory cap refuses the
        ;; growth; trapping here makes the host report it.
        (if (i32.eq (memory.grow (local.get $missing_pages)) (i32.const -1))
          (then unreachable))))
    (local.get $ptr))

  ;; Returns the input region itself, packed as (pointer << 32) | length.
  (func (export "polystat_transform") (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len))))
)
