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
//! nested tuple (so temporaries such as `after(d)` live until the select ends); a
//! [`Select`](crate::Select) is built over them, then each case's arm is matched in a
//! nest of blocks, one per case. Arm bodies run inline in the caller's code, so `break`,
//! `continue`, `return` and `?` act on the enclosing function or loop.

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
        let mut __goro_sel = $crate::Select::new();
        match $crate::__select_chain!(__goro_sel, __goro_ops, [$($default)*], $($cases)*) {
            $crate::__private::Chosen::Done(__goro_v) => __goro_v,
            $crate::__private::Chosen::Default => $crate::__select_default!($($default)*),
            $crate::__private::Chosen::Index(_) => unreachable!("goro: select! case without an arm"),
        }
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

#[doc(hidden)]
#[macro_export]
macro_rules! __select_chain {
    ($sel:ident, $ops:expr, [], ) => {
        $crate::__private::Chosen::Index($sel.select())
    };
    ($sel:ident, $ops:expr, [$($default:tt)+], ) => {
        match $sel.try_select() {
            Some(i) => $crate::__private::Chosen::Index(i),
            None => $crate::__private::Chosen::Default,
        }
    };
    ($sel:ident, $ops:expr, [$($default:tt)*], (recv ($rx:expr) ($p:pat) $body:block) $($rest:tt)*) => {{
        let (__goro_op, __goro_rest) = $ops;
        let __goro_h = $sel.recv(__goro_op);
        match $crate::__select_chain!($sel, __goro_rest, [$($default)*], $($rest)*) {
            $crate::__private::Chosen::Index(i) if i == __goro_h.index() => {
                #[allow(unreachable_code, clippy::diverging_sub_expression)]
                match $sel.recv_result(__goro_h) {
                    $p => $crate::__private::Chosen::Done($body),
                }
            }
            __goro_other => __goro_other,
        }
    }};
    ($sel:ident, $ops:expr, [$($default:tt)*], (send ($tx:expr, $v:expr) ($p:pat) $body:block) $($rest:tt)*) => {{
        let ((__goro_op, __goro_v), __goro_rest) = $ops;
        let __goro_h = $sel.send(__goro_op, __goro_v);
        match $crate::__select_chain!($sel, __goro_rest, [$($default)*], $($rest)*) {
            $crate::__private::Chosen::Index(i) if i == __goro_h.index() => {
                #[allow(unreachable_code, clippy::diverging_sub_expression)]
                match $sel.send_result(__goro_h) {
                    $p => $crate::__private::Chosen::Done($body),
                }
            }
            __goro_other => __goro_other,
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        unreachable!("goro: select! without default returned nothing")
    };
    ($body:block) => {
        $body
    };
}
