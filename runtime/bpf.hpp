// bpf: writing classic BPF programs with named jump targets.
//
// Classic BPF jumps only forward, and a conditional jump's offsets are 8 bits: it reaches at
// most 255 instructions ahead. The Assembler lets code name its targets by label and works
// the offsets out at the end, refusing a program whose jumps do not fit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace cage::bpf {

// The classic BPF instruction, as the kernel reads it (struct sock_filter).
struct Instruction {
    std::uint16_t code;
    std::uint8_t jt;
    std::uint8_t jf;
    std::uint32_t k;
};
static_assert(sizeof(Instruction) == 8);

Instruction load_word(std::uint32_t offset);  // A = the 32-bit word at offset
Instruction ret(std::uint32_t value);         // return value

class Assembler {
public:
    using Label = std::size_t;
    // The instruction after the jump: "fall through".
    static constexpr Label next = 0;

    Label new_label();
    // The next instruction emitted is the label's target.
    void place(Label label);
    void emit(Instruction instruction);
    void emit(std::span<const Instruction> instructions);
    // if (A op k) goto taken; else goto not_taken. op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET.
    void jump_if(std::uint16_t op, std::uint32_t k, Label taken, Label not_taken);
    void jump(Label target);

    // The program, or nothing when a conditional jump reaches further than 255 instructions
    // (or a label is backwards or never placed).
    std::optional<std::vector<Instruction>> finish() const;

private:
    struct Fixup {
        std::size_t at;
        Label taken;
        Label not_taken;  // unused for an unconditional jump
    };
    std::vector<Instruction> code_;
    std::vector<std::optional<std::size_t>> targets_{std::nullopt};  // by label; 0 is `next`
    std::vector<Fixup> fixups_;
};

// A range of A's values, from first up to the next range's first, and where it goes.
struct Range {
    std::uint32_t first;
    Assembler::Label target;
};

// Jumps to the target of the range that holds A, by binary search: ranges.size() - 1
// comparisons (one JGE per boundary, the returns shared), about log2 of that per run.
// The ranges are sorted, the first starts at 0, and neighbours have different targets.
void branch_on_ranges(Assembler& code, std::span<const Range> ranges);

}  // namespace cage::bpf
