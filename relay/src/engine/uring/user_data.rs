//! The 64-bit `user_data` of every SQE: which operation, which side, which provided buffer,
//! which session slot and which generation of that slot. Pure encoding, no io_uring calls.

pub(super) const OP_WAKE: u64 = 1;
pub(super) const OP_RECV: u64 = 2;
pub(super) const OP_SEND: u64 = 3;
pub(super) const OP_SEND_ZC: u64 = 4;
pub(super) const OP_CANCEL: u64 = 5;

/// `user_data` layout: op (4 bits) | side (1) | bid (16) | slot (24) | generation (19).
pub(super) fn user_data(op: u64, side: usize, bid: u16, slot: usize, generation: u32) -> u64 {
    op | ((side as u64 & 1) << 4)
        | (u64::from(bid) << 5)
        | ((slot as u64 & 0xff_ffff) << 21)
        | ((u64::from(generation) & 0x7_ffff) << 45)
}

pub(super) struct Decoded {
    pub(super) op: u64,
    pub(super) side: usize,
    pub(super) bid: u16,
    pub(super) slot: usize,
    pub(super) generation: u32,
}

pub(super) fn decode(ud: u64) -> Decoded {
    Decoded {
        op: ud & 0xf,
        side: ((ud >> 4) & 1) as usize,
        bid: ((ud >> 5) & 0xffff) as u16,
        slot: ((ud >> 21) & 0xff_ffff) as usize,
        generation: ((ud >> 45) & 0x7_ffff) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ud = user_data(OP_SEND_ZC, 1, 513, 0x12_3456, 0x7_0001);
        let d = decode(ud);
        assert_eq!(
            (d.op, d.side, d.bid, d.slot, d.generation),
            (OP_SEND_ZC, 1, 513, 0x12_3456, 0x7_0001)
        );
    }
}
