#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <vector>

namespace crt::store {

using Chunk = std::vector<char>;

/// A bounded queue of byte chunks from one producer thread to one consumer,
/// with chunks handed back for reuse. The producer ends it with close()
/// (passing its failure, if any); the consumer stops the producer with
/// cancel().
class ChunkQueue {
 public:
  explicit ChunkQueue(size_t capacity, size_t chunk_size);

  /// A chunk to fill (recycled when one is free). Empty when cancelled.
  std::optional<Chunk> take_empty();
  /// Queues a filled chunk; false when the consumer has cancelled.
  bool push(Chunk c);
  /// Ends the stream; `error` is rethrown to the consumer after the last chunk.
  void close(std::exception_ptr error = nullptr);

  /// The next chunk; nullopt at the end. Rethrows the producer's failure.
  std::optional<Chunk> pop();
  /// Returns a consumed chunk for reuse.
  void recycle(Chunk c);
  /// Tells the producer to stop.
  void cancel();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> full_;
  std::vector<Chunk> free_;
  size_t capacity_;
  size_t chunk_size_;
  size_t in_flight_ = 0;  ///< chunks handed out or queued
  bool closed_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace crt::store
