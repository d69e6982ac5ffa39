//! `select!`: crossbeam's syntax, Go's semantics.
//!
//! ```text
//! select! {
//!     recv(rx) -> msg => { ... },          // msg: Result<T, RecvError>
//!     send(tx, value) -> res => { ... },   // res: Result<(), SendError<T>>
//!     default => { ... },                  // optional: runs if nothing is ready now
//! }
//! ```
//!
//! Expansion: every operand and send value is evaluated once, in source order, into a
//! nested tuple that is the scrutinee of a `match` (so temporaries such as `after(d)`, or
//! a `never()` inside an operand expression, live until the select has chosen); inside
//! it one case per operation is bound — no allocation unless the select has to park —
//! and the selectgo engine of [`Select`](crate::Select) runs over them. The `match` yields
//! every case's result (owned values, `Some` for the case that fired) and drops the cases
//! and temporaries; only then does the fired arm run, inline in the caller's code, so
//! `break`, `continue`, `return` and `?` act on the enclosing function or loop, and an
//! arm may assign to the variables its cases named (Go's debounce; disabling a case by
//! setting its channel to `never()`).

/// Waits on several channel operations; exactly one fires (chosen at random among the
/// ready ones, like Go). See the module docs of `goro_chan` for an example.
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!([] [] $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // Done: no more tokens.
    ([$($cases:tt)*] [$($default:tt)*]) => {
        $crate::__select_expand!([$($cases)*] [$($default)*])
    };
    // Separating commas.
    ([$($cases:tt)*] [$($default:tt)*] , $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [$($default)*] $($rest)*)
    };
    // recv(rx) -> pat => block
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) ($p) $body)] [$($default)*] $($rest)*)
    };
    // recv(rx) -> pat => expr,
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) ($p) { $body })] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $p:pat => $body:expr) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) ($p) { $body })] [$($default)*])
    };
    // send(tx, v) -> pat => block
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $v:expr) -> $p:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $v) ($p) $body)] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $v:expr) -> $p:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $v) ($p) { $body })] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $v:expr) -> $p:pat => $body:expr) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $v) ($p) { $body })] [$($default)*])
    };
    // default => ...
    ([$($cases:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [$body] $($rest)*)
    };
    ([$($cases:tt)*] [] default => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [{ $body }] $($rest)*)
    };
    ([$($cases:tt)*] [] default => $body:expr) => {
        $crate::__select_parse!([$($cases)*] [{ $body }])
    };
    ([$($cases:tt)*] [$($default:tt)+] default $($rest:tt)*) => {
        compile_error!("select! has more than one `default` arm")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    ([$($cases:tt)*] [$($default:tt)*]) => {{
        // The operands are evaluated in the scrutinee, so their temporaries live until the
        // select has chosen; the cases (which borrow the channels) are dropped at the end
        // of the `match`, before any arm runs, so an arm may assign to what a case named.
        let __goro_results = match $crate::__select_ops!($($cases)*) {
            __goro_ops => $crate::__select_bind!(__goro_ops, [$($default)*], [], $($cases)*),
        };
        $crate::__select_arms!(__goro_results, [$($default)*] $($cases)*)
    }};
}

/// Operands and values, in source order, as a nested tuple `(op0, (op1, ... ()))`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_ops {
    () => { () };
    ((recv ($rx:expr) $p:tt $body:block) $($rest:tt)*) => {
        (&$rx, $crate::__select_ops!($($rest)*))
    };
    ((send ($tx:expr, $v:expr) $p:tt $body:block) $($rest:tt)*) => {
        ((&$tx, $v), $crate::__select_ops!($($rest)*))
    };
}

/// Binds one case per level, in the caller's frame (hygiene makes every `__goro_case` a
/// distinct variable), then runs the select over all of them and matches the arms.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ($ops:expr, [$($default:tt)*], [$($bound:tt)*], (recv ($rx:expr) ($p:pat) $body:block) $($rest:tt)*) => {{
        let (__goro_op, __goro_rest) = $ops;
        let mut __goro_case = $crate::__private::RecvCase::new(__goro_op);
        $crate::__select_bind!(__goro_rest, [$($default)*], [$($bound)* (recv __goro_case ($p) $body)], $($rest)*)
    }};
    ($ops:expr, [$($default:tt)*], [$($bound:tt)*], (send ($tx:expr, $v:expr) ($p:pat) $body:block) $($rest:tt)*) => {{
        let ((__goro_op, __goro_v), __goro_rest) = $ops;
        let mut __goro_case = $crate::__private::SendCase::new(__goro_op, __goro_v);
        $crate::__select_bind!(__goro_rest, [$($default)*], [$($bound)* (send __goro_case ($p) $body)], $($rest)*)
    }};
    ($ops:expr, [$($default:tt)*], [$(($kind:ident $case:ident ($p:pat) $body:block))*], ) => {{
        let () = $ops;
        let _ = $crate::__private::select_cases(
            &mut [$($crate::__private::CaseRef::$kind(&mut $case)),*],
            $crate::__select_blocks!($($default)*),
        );
        $crate::__select_results!($($case)*)
    }};
}

/// Each case's result (`Some` for the one that fired), as a nested tuple in case order.
/// The results own their values: nothing in them borrows a channel.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_results {
    () => {
        ()
    };
    ($case:ident $($rest:ident)*) => {
        ($case.take_result(), $crate::__select_results!($($rest)*))
    };
}

/// Whether the select waits: only without a `default` arm.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_blocks {
    () => {
        true
    };
    ($body:block) => {
        false
    };
}

/// The fired case is the one holding a result; none does only when `default` applies.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_arms {
    ($results:expr, []) => {{
        let () = $results;
        unreachable!("goro: select! without default returned nothing")
    }};
    ($results:expr, [$body:block]) => {{
        let () = $results;
        $body
    }};
    ($results:expr, [$($default:tt)*] ($kind:ident $op:tt ($p:pat) $body:block) $($rest:tt)*) => {{
        let (__goro_r, __goro_more) = $results;
        if let ::core::option::Option::Some(__goro_r) = __goro_r {
            #[allow(unreachable_code, clippy::diverging_sub_expression)]
            match __goro_r {
                $p => $body,
            }
        } else {
            $crate::__select_arms!(__goro_more, [$($default)*] $($rest)*)
        }
    }};
}
