//! The peephole pass: overlay superinstructions on common instruction sequences.
//!
//! A superinstruction replaces the first instruction of its sequence only (see the notes on
//! `Instr::FastCmpIntJump` in bytecode.rs): the other instructions stay where they are, so no
//! jump target, handler range or line number moves, and the superinstruction's slow path is
//! simply "do what the replaced instruction did, then go on". Patterns are matched on the
//! original instructions, so sequences may overlap.

use crate::bytecode::Instr;

/// The `BinOp` code of an arithmetic instruction (Add/Sub/Mul are short forms of Binary).
fn binop_code(i: Instr) -> Option<u8> {
    match i {
        Instr::Add => Some(0),
        Instr::Sub => Some(1),
        Instr::Mul => Some(2),
        Instr::Binary(op) | Instr::Inplace(op) => Some(op as u8),
        _ => None,
    }
}

fn cmp_code(i: Instr) -> Option<u8> {
    Some(match i {
        Instr::Lt => 0,
        Instr::Le => 1,
        Instr::Gt => 2,
        Instr::Ge => 3,
        Instr::Eq => 4,
        Instr::Ne => 5,
        _ => return None,
    })
}

pub fn optimize(mut instrs: Vec<Instr>) -> Vec<Instr> {
    let orig = instrs.clone();
    let at = |i: usize| orig.get(i).copied().unwrap_or(Instr::Nop);
    for p in 0..orig.len() {
        if let (Instr::ForIter(t), Instr::StoreFast(a)) = (orig[p], at(p + 1)) {
            if let Ok(a16) = u16::try_from(a) {
                instrs[p] = Instr::ForIterStore(a16, t);
            }
            continue;
        }
        if let (Instr::LoadGlobal(g), Instr::LoadFast(a), Instr::Call(1)) =
            (orig[p], at(p + 1), at(p + 2))
        {
            if let Ok(a16) = u16::try_from(a) {
                instrs[p] = Instr::CallGlobalLocal1(a16, g);
            }
            continue;
        }
        if let (Instr::LoadConst(k), Instr::LoadFast(b)) = (orig[p], at(p + 1)) {
            if let (Ok(k16), Ok(b16)) = (u16::try_from(k), u16::try_from(b)) {
                match at(p + 2) {
                    Instr::In => instrs[p] = Instr::ConstInLocal(0, k16, b16),
                    Instr::NotIn => instrs[p] = Instr::ConstInLocal(1, k16, b16),
                    _ => {}
                }
            }
            continue;
        }
        if let (Instr::LoadInt(k), Some(o)) = (orig[p], binop_code(at(p + 1))) {
            instrs[p] = Instr::BinConstInt(o, k);
            continue;
        }
        let Instr::LoadFast(a) = orig[p] else {
            continue;
        };
        if at(p + 1) == Instr::Return {
            instrs[p] = Instr::ReturnLocal(a);
            continue;
        }
        let Ok(a8) = u8::try_from(a) else {
            continue;
        };
        if let Instr::LoadInt(k) = at(p + 1) {
            if let (Some(c), Instr::JumpIfFalse(_)) = (cmp_code(at(p + 2)), at(p + 3)) {
                instrs[p] = Instr::FastCmpIntJump(c, a8, k);
                continue;
            }
            if let Some(o) = binop_code(at(p + 2)) {
                instrs[p] = if at(p + 3) == Instr::StoreFast(a) {
                    Instr::FastIntOpStore(o, a8, k)
                } else {
                    Instr::FastIntOp(o, a8, k)
                };
                continue;
            }
        }
        if let (Instr::LoadConst(k), Instr::Subscr, Ok(a16)) =
            (at(p + 1), at(p + 2), u16::try_from(a))
        {
            instrs[p] = Instr::SubscrLocalConst(a16, k);
            continue;
        }
        if let Instr::LoadFast(b) = at(p + 1) {
            if let (Ok(a16), Ok(b16)) = (u16::try_from(a), u16::try_from(b)) {
                instrs[p] = match (binop_code(at(p + 2)), at(p + 2)) {
                    (Some(o), _) => Instr::FastBinLocals(o, a16, b16),
                    (None, Instr::Subscr) => Instr::SubscrLocals(a16, b16),
                    (None, Instr::In) => Instr::InLocals(0, a16, b16),
                    (None, Instr::NotIn) => Instr::InLocals(1, a16, b16),
                    _ => Instr::LoadFast2(a16, b16),
                };
            }
        }
    }
    instrs
}
