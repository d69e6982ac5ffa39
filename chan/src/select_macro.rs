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
//! nested tuple (so temporaries such as `after(d)` live until the select ends); then one
//! case per operation is bound in the caller's frame — no allocation unless the select has
//! to park — and the selectgo engine of [`Select`](crate::Select) runs over them. The case
//! that fired is the one holding a result; its arm runs inline in the caller's code, so
//! `break`, `continue`, `return` and `?` act on the enclosing function or loop.

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
        let __goro_ops = $crate::__select_ops!($($cases)*);
        $crate::__select_bind!(__goro_ops, [$($default)*], [], $($cases)*)
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
        $crate::__select_arms!([$($default)*] $(($case ($p) $body))*)
    }};
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
    ([]) => {
        unreachable!("goro: select! without default returned nothing")
    };
    ([$body:block]) => {
        $body
    };
    ([$($default:tt)*] ($case:ident ($p:pat) $body:block) $($rest:tt)*) => {
        if let ::core::option::Option::Some(__goro_r) = $case.take_result() {
            #[allow(unreachable_code, clippy::diverging_sub_expression)]
            match __goro_r {
                $p => $body,
            }
        } else {
            $crate::__select_arms!([$($default)*] $($rest)*)
        }
    };
}
