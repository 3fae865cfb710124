#include "runtime/bpf.hpp"

#include <linux/filter.h>

namespace cage::bpf {

Instruction load_word(std::uint32_t offset)
{
    return {BPF_LD | BPF_W | BPF_ABS, 0, 0, offset};
}

Instruction ret(std::uint32_t value)
{
    return {BPF_RET | BPF_K, 0, 0, value};
}

Assembler::Label Assembler::new_label()
{
    targets_.emplace_back();
    return targets_.size() - 1;
}

void Assembler::place(Label label)
{
    targets_.at(label) = code_.size();
}

void Assembler::emit(Instruction instruction)
{
    code_.push_back(instruction);
}

void Assembler::emit(std::span<const Instruction> instructions)
{
    code_.insert(code_.end(), instructions.begin(), instructions.end());
}

void Assembler::jump_if(std::uint16_t op, std::uint32_t k, Label taken, Label not_taken)
{
    fixups_.push_back({code_.size(), taken, not_taken});
    emit({static_cast<std::uint16_t>(BPF_JMP | op | BPF_K), 0, 0, k});
}

void Assembler::jump(Label target)
{
    fixups_.push_back({code_.size(), target, next});
    emit({BPF_JMP | BPF_JA, 0, 0, 0});
}

std::optional<std::vector<Instruction>> Assembler::finish() const
{
    auto program = code_;
    for (const auto& fixup : fixups_) {
        auto offset = [&](Label label) -> std::optional<std::size_t> {
            if (label == next)
                return 0;
            auto target = targets_.at(label);
            if (!target || *target <= fixup.at)
                return std::nullopt;
            return *target - fixup.at - 1;
        };
        auto taken = offset(fixup.taken);
        auto not_taken = offset(fixup.not_taken);
        if (!taken || !not_taken)
            return std::nullopt;
        auto& instruction = program[fixup.at];
        if (BPF_OP(instruction.code) == BPF_JA) {
            instruction.k = static_cast<std::uint32_t>(*taken);
            continue;
        }
        if (*taken > 255 || *not_taken > 255)
            return std::nullopt;
        instruction.jt = static_cast<std::uint8_t>(*taken);
        instruction.jf = static_cast<std::uint8_t>(*not_taken);
    }
    return program;
}

namespace {

// Preorder: this node's comparison, then the lower half's subtree, then the upper half's, so
// the lower half is usually reached by falling through. A half of one range is a leaf and
// costs no instruction: the comparison jumps straight to that range's target.
void branch_node(Assembler& code, std::span<const Range> ranges)
{
    auto lower = ranges.first(ranges.size() / 2);
    auto upper = ranges.subspan(ranges.size() / 2);
    auto entry = [&](std::span<const Range> half) { return half.size() == 1 ? half[0].target : code.new_label(); };
    auto below = entry(lower);
    auto above = entry(upper);
    code.jump_if(BPF_JGE, upper[0].first, above, below);
    for (auto [half, label] : {std::pair{lower, below}, std::pair{upper, above}}) {
        if (half.size() > 1) {
            code.place(label);
            branch_node(code, half);
        }
    }
}

}  // namespace

void branch_on_ranges(Assembler& code, std::span<const Range> ranges)
{
    if (ranges.size() == 1)
        code.jump(ranges[0].target);
    else if (ranges.size() > 1)
        branch_node(code, ranges);
}

}  // namespace cage::bpf
