#include "pgque_worker/core/poison_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

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
    std::uint64_t identity = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        std::int64_t a = 0;
        int b = 0;
        fields >> key >> a;
        if (!fields)
            continue;  // a torn or foreign line counts for nothing
        if (key == "identity")
            identity = static_cast<std::uint64_t>(a);
        else if (key == "batch")
            batch_ = a;
        else if (key == "in_flight")
            in_flight_ = a;
        else if (key == "deaths" && (fields >> b) && b > 0)
            deaths_[a] = b;
    }
    if (identity != identity_) {  // another consumer's, left behind
        batch_ = 0;
        in_flight_.reset();
        deaths_.clear();
    }
    return batch_ != 0;
}

void PoisonJournal::Save() const
{
    std::ostringstream text;
    text << "identity " << static_cast<std::int64_t>(identity_) << "\n";
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
    // Stopped by the postmaster because another process crashed: that death
    // was not the message's doing.
    const bool quit = std::remove(quit_marker_.c_str()) == 0;
    if (interrupted) {
        if (in_flight_ && !quit)
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

std::uint64_t PoisonJournal::IdentityOf(const std::string &queue, const std::string &consumer,
                                        const std::string &created)
{
    std::uint64_t h = 1469598103934665603ULL;
    for (const std::string *part : {&queue, &consumer, &created}) {
        for (unsigned char c : *part)
            h = (h ^ c) * 1099511628211ULL;
        h = (h ^ 0xFF) * 1099511628211ULL;  // separator: ("ab","c") differs from ("a","bc")
    }
    return h;
}

void PoisonJournal::MarkQuit(const char *quit_marker_path)
{
    int fd = open(quit_marker_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0)
        close(fd);
}

void PoisonJournal::Clear()
{
    if (saved_ || batch_ != 0)
        std::remove(path_.c_str());
    std::remove(quit_marker_.c_str());
    batch_ = 0;
    in_flight_.reset();
    deaths_.clear();
    saved_ = false;
}

}  // namespace pgque::core
