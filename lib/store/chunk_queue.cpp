#include "store/chunk_queue.hpp"

namespace crt::store {

ChunkQueue::ChunkQueue(size_t capacity, size_t chunk_size) : capacity_(capacity), chunk_size_(chunk_size) {}

std::optional<Chunk> ChunkQueue::take_empty() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return cancelled_ || in_flight_ < capacity_; });
  if (cancelled_) return std::nullopt;
  ++in_flight_;
  if (!free_.empty()) {
    Chunk c = std::move(free_.back());
    free_.pop_back();
    c.clear();
    return c;
  }
  Chunk c;
  c.reserve(chunk_size_);
  return c;
}

bool ChunkQueue::push(Chunk c) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return false;
  full_.push_back(std::move(c));
  changed_.notify_all();
  return true;
}

void ChunkQueue::close(std::exception_ptr error) {
  std::lock_guard lock(mutex_);
  closed_ = true;
  error_ = std::move(error);
  changed_.notify_all();
}

std::optional<Chunk> ChunkQueue::pop() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !full_.empty() || closed_; });
  if (!full_.empty()) {
    Chunk c = std::move(full_.front());
    full_.pop_front();
    return c;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

void ChunkQueue::recycle(Chunk c) {
  std::lock_guard lock(mutex_);
  --in_flight_;
  free_.push_back(std::move(c));
  changed_.notify_all();
}

void ChunkQueue::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  changed_.notify_all();
}

}  // namespace crt::store
