#include "common/protocol/codec.h"

#include <array>
#include <exception>
#include <utility>

#include <msgpack.hpp>

#include "common/protocol/field_codec.h"

namespace receta::protocol {
namespace {

using detail::KindOf;
using detail::PackValue;
using detail::Packer;
using detail::ReadInteger;
using detail::ReadValue;

constexpr std::size_t kEnvelopeElements = 4;  // [version, type, request_id, body]
constexpr uint16_t kKnownTypes = static_cast<uint16_t>(std::variant_size_v<Message>);

template <std::size_t... I>
constexpr bool TypesInVariantOrder(std::index_sequence<I...>) {
  return ((static_cast<std::size_t>(std::variant_alternative_t<I, Message>::kType) == I + 1) && ...);
}
// Why: kTypeNames is indexed by wire type, and the "knows 1..N" error text
// assumes the numbers are contiguous.
static_assert(TypesInVariantOrder(std::make_index_sequence<std::variant_size_v<Message>>()),
              "Message alternatives must be listed in MessageType order, numbered 1..N");

// kTypeNames[type - 1] is the struct name of wire type `type`.
constexpr auto kTypeNames = []<std::size_t... I>(std::index_sequence<I...>) {
  return std::array<std::string_view, sizeof...(I)>{std::variant_alternative_t<I, Message>::kName...};
}(std::make_index_sequence<std::variant_size_v<Message>>());

template <std::size_t I = 0>
Result<Message> DecodeBody(uint16_t type, const msgpack::object& body) {
  if constexpr (I == std::variant_size_v<Message>) {
    return Result<Message>::Error("message type " + std::to_string(type) + " is unknown (protocol v" +
                                  std::to_string(kProtocolVersion) + " knows 1.." +
                                  std::to_string(kKnownTypes) +
                                  "); if the sender runs a newer receta, upgrade this side");
  } else {
    using T = std::variant_alternative_t<I, Message>;
    if (static_cast<uint16_t>(T::kType) != type) return DecodeBody<I + 1>(type, body);
    T message;
    if (body.type != msgpack::type::MAP) {
      return Status::Error(std::string(T::kName) + ": body must be a map of field names, got " +
                           KindOf(body));
    }
    if (Status s = ReadValue(body, "", message); !s.ok()) {
      return s.WithContext(std::string(T::kName));
    }
    return Message(std::in_place_index<I>, std::move(message));
  }
}

Result<Header> ReadHeader(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size < kEnvelopeElements) {
    return Status::Error(std::string("not a receta message: expected an array [version, type, "
                                     "request_id, body], got ") +
                         (root.type == msgpack::type::ARRAY
                              ? "an array of " + std::to_string(root.via.array.size) + " elements"
                              : std::string(KindOf(root))));
  }
  const msgpack::object* e = root.via.array.ptr;
  Header header;
  for (Status s : {ReadInteger(e[0], "version", header.version), ReadInteger(e[1], "type", header.type),
                   ReadInteger(e[2], "request_id", header.request_id)}) {
    if (!s.ok()) return s.WithContext("envelope");
  }
  return header;
}

Status CheckVersion(uint32_t version) {
  if (version == kProtocolVersion) return Status::Ok();
  std::string text = "protocol version " + std::to_string(version) +
                     " is not supported (this build speaks " + std::to_string(kProtocolVersion) + "); ";
  text += version > kProtocolVersion ? "upgrade receta on this side to match the sender"
                                     : "upgrade receta on the sending side";
  return Status::Error(text);
}

}  // namespace

Result<std::string> Encode(const Message& message, uint64_t request_id) {
  msgpack::sbuffer buffer;
  try {
    Packer p(buffer);
    p.pack_array(kEnvelopeElements);
    p.pack(kProtocolVersion);
    p.pack(static_cast<uint16_t>(TypeOf(message)));
    p.pack(request_id);
    std::visit([&p](const auto& body) { PackValue(p, body); }, message);
  } catch (const std::exception& e) {
    return Status::Error(std::string(NameOf(message)) + " cannot be encoded: " + e.what());
  }
  if (buffer.size() > kMaxMessageBytes) {
    return Status::Error(std::string(NameOf(message)) + " encodes to " + std::to_string(buffer.size()) +
                         " bytes, over the limit of " + std::to_string(kMaxMessageBytes) +
                         " (kMaxMessageBytes); send less per message");
  }
  return std::string(buffer.data(), buffer.size());
}

Result<Header> DecodeHeader(std::string_view bytes) {
  Result<msgpack::object_handle> handle = detail::UnpackChecked(bytes, "the message");
  if (!handle.ok()) return handle.status();
  return ReadHeader(handle->get());
}

Result<Envelope> Decode(std::string_view bytes) {
  Result<msgpack::object_handle> handle = detail::UnpackChecked(bytes, "the message");
  if (!handle.ok()) return handle.status();
  const msgpack::object& root = handle->get();
  Result<Header> header = ReadHeader(root);
  if (!header.ok()) return header.status();
  if (Status s = CheckVersion(header->version); !s.ok()) return s;
  Result<Message> message = DecodeBody(header->type, root.via.array.ptr[3]);
  if (!message.ok()) return message.status();
  return Envelope{header->request_id, std::move(message).value()};
}

std::string_view MessageTypeName(uint16_t type) {
  if (type == 0 || type > kTypeNames.size()) return {};
  return kTypeNames[type - 1];
}

}  // namespace receta::protocol
