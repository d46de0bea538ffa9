#include "pgque_worker/core/poison_journal.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pgque::core {

bool PoisonJournal::Load()
{
    batch_ = 0;
    in_flight_.reset();
    deaths_.clear();
    std::ifstream in(path_);
    if (!in)
        return false;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        std::int64_t a = 0;
        int b = 0;
        fields >> key >> a;
        if (!fields)
            continue;  // a torn or foreign line counts for nothing
        if (key == "batch")
            batch_ = a;
        else if (key == "in_flight")
            in_flight_ = a;
        else if (key == "deaths" && (fields >> b) && b > 0)
            deaths_[a] = b;
    }
    return batch_ != 0;
}

void PoisonJournal::Save() const
{
    std::ostringstream text;
    text << "batch " << batch_ << "\n";
    if (in_flight_)
        text << "in_flight " << *in_flight_ << "\n";
    for (const auto &[msg, n] : deaths_)
        text << "deaths " << msg << " " << n << "\n";
    const std::string tmp = path_ + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text.str();
        if (!out.flush())
            throw std::runtime_error("could not write " + tmp + ": " + std::strerror(errno));
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0)
        throw std::runtime_error("could not rename " + tmp + ": " + std::strerror(errno));
}

bool PoisonJournal::BeginBatch(std::int64_t first_msg_id)
{
    bool interrupted = Load() && batch_ == first_msg_id;
    if (interrupted) {
        if (in_flight_)
            deaths_[*in_flight_]++;
        in_flight_.reset();
    } else {
        deaths_.clear();
        in_flight_.reset();
        batch_ = first_msg_id;
    }
    Save();
    saved_ = true;
    return interrupted;
}

void PoisonJournal::MarkInFlight(std::int64_t msg_id)
{
    in_flight_ = msg_id;
    Save();
}

int PoisonJournal::DeathsOf(std::int64_t msg_id) const
{
    auto it = deaths_.find(msg_id);
    return it == deaths_.end() ? 0 : it->second;
}

void PoisonJournal::Clear()
{
    if (saved_ || batch_ != 0)
        std::remove(path_.c_str());
    batch_ = 0;
    in_flight_.reset();
    deaths_.clear();
    saved_ = false;
}

}  // namespace pgque::core
