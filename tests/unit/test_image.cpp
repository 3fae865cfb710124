// src/image: references, manifests, images.json, entry-name safety, image users, and the
// unpacker on archives built in memory (hostile ones included).
#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "image/auth.hpp"
#include "image/digest.hpp"
#include "image/fsutil.hpp"
#include "image/manifest.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"
#include "image/unpack.hpp"
#include "temp_dir.hpp"
#include "sandbox/image_root.hpp"

namespace fs = std::filesystem;
using namespace cage::image;
using Parts = std::vector<std::string>;

namespace {

const std::string zero_digest = "sha256:" + std::string(64, '0');
const std::string one_digest = "sha256:" + std::string(64, '1');

std::string ref(const char* text)
{
    auto parsed = parse_reference(text);
    REQUIRE_MESSAGE(parsed.has_value(), text);
    return parsed->str();
}

struct Entry {
    std::string name;
    char type = 'f';  // f file, d dir, l symlink, h hard link
    std::string value;
};

// An uncompressed tar (or gzip with compress) of the entries, written to a file.
std::string write_tar(const std::string& path, const std::vector<Entry>& entries, bool gzip = false)
{
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
    for (const auto& e : entries) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, e.name.c_str());
        archive_entry_set_perm(entry, e.type == 'd' ? 0755 : 0644);
        if (e.type == 'f') {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_size(entry, static_cast<la_int64_t>(e.value.size()));
        } else if (e.type == 'd') {
            archive_entry_set_filetype(entry, AE_IFDIR);
        } else if (e.type == 'l') {
            archive_entry_set_filetype(entry, AE_IFLNK);
            archive_entry_set_symlink(entry, e.value.c_str());
        } else {
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_hardlink(entry, e.value.c_str());
        }
        archive_write_header(a, entry);
        if (e.type == 'f')
            archive_write_data(a, e.value.data(), e.value.size());
        archive_entry_free(entry);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
}

cage::Expected<UnpackResult> unpack(const std::string& tar, const std::string& dest, UnpackLimits limits = {})
{
    fs::create_directories(dest);
    int blob = ::open(tar.c_str(), O_RDONLY | O_CLOEXEC);
    int dir = ::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    UnpackOptions options;
    options.limits = limits;
    auto result = unpack_layer(blob, dir, options);
    ::close(blob);
    ::close(dir);
    return result;
}

}  // namespace

TEST_CASE("image: references normalise like docker's")
{
    CHECK(ref("alpine") == "docker.io/library/alpine:latest");
    CHECK(ref("alpine:3.19") == "docker.io/library/alpine:3.19");
    CHECK(ref("library/alpine") == "docker.io/library/alpine:latest");
    CHECK(ref("docker.io/alpine") == "docker.io/library/alpine:latest");
    CHECK(ref("index.docker.io/library/alpine") == "docker.io/library/alpine:latest");
    CHECK(ref("user/app") == "docker.io/user/app:latest");
    CHECK(ref("ghcr.io/owner/app:v1.2-rc_3") == "ghcr.io/owner/app:v1.2-rc_3");
    CHECK(ref("localhost/x") == "localhost/x:latest");
    CHECK(ref("127.0.0.1:5000/a/b/c:t") == "127.0.0.1:5000/a/b/c:t");
    CHECK(ref(("alpine@" + one_digest).c_str()) == "docker.io/library/alpine@" + one_digest);
    CHECK(ref(("reg.io:443/x:t@" + one_digest).c_str()) == "reg.io:443/x:t@" + one_digest);
    auto parsed = parse_reference("localhost:5000/ns/app:1");
    REQUIRE(parsed.has_value());
    CHECK(parsed->registry == "localhost:5000");
    CHECK(parsed->repository == "ns/app");
    CHECK(parsed->tag == "1");
    CHECK(parse_reference("alpine")->endpoint() == "registry-1.docker.io");
    CHECK(parse_reference("quay.io/a")->endpoint() == "quay.io");
    CHECK(parse_reference("a.b/c:5")->name() == "a.b/c");
}

TEST_CASE("image: invalid references are refused")
{
    for (const char* bad : {"", "Alpine", "alpine:", ":tag", "a//b", "a/", "/a", "a..b", "a:b:c", "-a", "a-",
                            "alpine@sha256:abc", "alpine@md5:0123", "reg.io:port/x", "a b", "a/../b",
                            "alpine:-tag", "alpine:.tag"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_reference(bad).has_value());
    }
    CHECK_FALSE(parse_reference("a:" + std::string(129, 't')).has_value());
    CHECK(parse_reference("a:" + std::string(128, 't')).has_value());
    CHECK_FALSE(parse_reference("reg.io/" + std::string(300, 'a')).has_value());
    CHECK(parse_reference("Alpine").error().what.starts_with("invalid image reference"));
}

TEST_CASE("image: local names go under localhost/")
{
    CHECK(parse_local_reference("tool")->str() == "localhost/tool:latest");
    CHECK(parse_local_reference("tool:1")->str() == "localhost/tool:1");
    CHECK(parse_local_reference("ns/tool")->str() == "localhost/ns/tool:latest");
    CHECK(parse_local_reference("reg.io/tool")->str() == "reg.io/tool:latest");
    CHECK(parse_local_reference("localhost:5000/t")->str() == "localhost:5000/t:latest");
    CHECK(is_local_registry("localhost"));
    CHECK(is_local_registry("localhost:5000"));
    CHECK(is_local_registry("127.0.0.1:8080"));
    CHECK_FALSE(is_local_registry("127.0.0.2:80"));
    CHECK_FALSE(is_local_registry("localhost.evil.com"));
    CHECK_FALSE(is_local_registry("docker.io"));
}

TEST_CASE("image: digests")
{
    CHECK(valid_digest(zero_digest));
    CHECK_FALSE(valid_digest("sha256:" + std::string(63, '0')));
    CHECK_FALSE(valid_digest("sha256:" + std::string(65, '0')));
    CHECK_FALSE(valid_digest("sha256:" + std::string(64, 'A')));
    CHECK_FALSE(valid_digest("sha512:" + std::string(64, '0')));
    CHECK_FALSE(valid_digest("sha256:../../" + std::string(58, '0')));
    CHECK(sha256_of("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_of("abc") == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("image: manifests, indexes and configs")
{
    std::string layer = R"({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + one_digest +
                        R"(","size":10})";
    std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + zero_digest +
                           R"(","size":5},"layers":[)" + layer + "," + layer + "]}";
    CHECK(document_kind(manifest) == DocumentKind::manifest);
    auto parsed = parse_manifest(manifest);
    REQUIRE(parsed.has_value());
    CHECK(parsed->config.digest == zero_digest);
    CHECK(parsed->layers.size() == 2);
    CHECK(parsed->layers[0].size == 10);

    std::string index = R"({"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
        {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":")" + zero_digest +
                        R"(","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
        {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":")" + one_digest +
                        R"(","size":1,"platform":{"os":"linux","architecture":"amd64"}}]})";
    CHECK(document_kind(index) == DocumentKind::index);
    auto entries = parse_index(index);
    REQUIRE(entries.has_value());
    CHECK(pick_platform(*entries, "amd64")->digest == one_digest);
    CHECK(pick_platform(*entries, "arm64")->variant == "v8");
    CHECK_FALSE(pick_platform(*entries, "s390x").has_value());

    auto config = parse_config(R"({"architecture":"amd64","os":"linux","config":{"Env":["A=1","PATH=/bin"],
        "Entrypoint":["/e"],"Cmd":null,"WorkingDir":"/w","User":"1:2"},"rootfs":{"type":"layers","diff_ids":[")" +
                               one_digest + R"("]}})");
    REQUIRE(config.has_value());
    CHECK(config->env == Parts{"A=1", "PATH=/bin"});
    CHECK(config->entrypoint == Parts{"/e"});
    CHECK(config->cmd.empty());
    CHECK(config->working_dir == "/w");
    CHECK(config->user == "1:2");
    CHECK(config->diff_ids == Parts{one_digest});
}

TEST_CASE("image: malformed documents are refused")
{
    auto good_descriptor = R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + one_digest +
                           R"(","size":1})";
    for (const std::string& bad : std::vector<std::string>{
             "not json", "[]", "{}",
             R"({"config":{"digest":"sha256:x","size":1},"layers":[]})",
             R"({"config":)" + good_descriptor + R"(,"layers":{}})",
             R"({"config":)" + good_descriptor + R"(,"layers":[{"mediaType":"application/x-evil","digest":")" +
                 one_digest + R"(","size":1}]})",
             R"({"config":)" + good_descriptor + R"(,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
                 one_digest + R"(","size":-1}]})",
             R"({"config":)" + good_descriptor + R"(,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
                 one_digest + R"(","size":"1"}]})",
         }) {
        CAPTURE(bad);
        CHECK_FALSE(parse_manifest(bad).has_value());
    }
    CHECK_FALSE(parse_manifest(std::string(max_manifest_bytes + 1, ' ')).has_value());
    CHECK_FALSE(document_kind(R"({"schemaVersion":1,"fsLayers":[]})").has_value());
    CHECK_FALSE(parse_config(R"({"rootfs":{"diff_ids":["sha256:short"]}})").has_value());
    CHECK_FALSE(parse_config(R"({"rootfs":{"diff_ids":[]},"config":{"Env":[1]}})").has_value());
    CHECK_FALSE(parse_config(R"({"rootfs":{"diff_ids":[]},"config":{"WorkingDir":"relative"}})").has_value());
    CHECK_FALSE(parse_config(R"({"config":{}})").has_value());
    CHECK_FALSE(parse_index(R"({"manifests":[{"digest":"sha256:00","size":1}]})").has_value());
    CHECK_FALSE(parse_archive_manifest("[]").has_value());
    CHECK_FALSE(parse_archive_manifest(R"([{"RepoTags":["a"],"Layers":["x"]}])").has_value());
    auto archive = parse_archive_manifest(R"([{"Config":"c.json","RepoTags":null,"Layers":["a/layer.tar"]}])");
    REQUIRE(archive.has_value());
    CHECK(archive->at(0).layers == Parts{"a/layer.tar"});
    CHECK(archive->at(0).tags.empty());
}

TEST_CASE("image: images.json round-trips and refuses damage")
{
    ImageTable table;
    table["docker.io/library/alpine:latest"] = {one_digest, zero_digest, {one_digest, zero_digest}, {one_digest}, 42,
                                                "2026-01-01T00:00:00Z"};
    table["localhost/x:1"] = {"", one_digest, {zero_digest}, {}, 7, "2026-01-02T00:00:00Z"};
    auto decoded = decode_table(encode_table(table));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == table);
    CHECK(decode_table(R"({"images":{}})")->empty());
    for (const std::string& bad : {std::string("{"), std::string("{}"), std::string(R"({"images":[]})"),
                                  std::string(R"({"images":{"Bad Ref":{}}})"),
                                  std::string(R"({"images":{"a/b:1":{"manifest":"","config":"sha256:1","layers":[],"blobs":[],"size":1,"created":""}}})"),
                                  std::string(R"({"images":{"a/b:1":{"manifest":"","config":")") + one_digest +
                                      R"(","layers":["../x"],"blobs":[],"size":1,"created":""}}})"}) {
        CAPTURE(bad);
        CHECK_FALSE(decode_table(bad).has_value());
    }
}

TEST_CASE("image: entry names are split safely")
{
    UnpackLimits limits;
    CHECK(*entry_components("./a//b/", limits) == Parts{"a", "b"});
    CHECK(entry_components(".", limits)->empty());
    CHECK(entry_components("./", limits)->empty());
    CHECK(*entry_components("a/./b/.wh.c", limits) == Parts{"a", "b", ".wh.c"});
    CHECK(*entry_components("..a/b..", limits) == Parts{"..a", "b.."});
    CHECK(entry_components("../x", limits).error().what == "'..' in name");
    CHECK(entry_components("a/../../x", limits).error().what == "'..' in name");
    CHECK(entry_components("a/..", limits).error().what == "'..' in name");
    CHECK(entry_components("/etc/passwd", limits).error().what == "absolute name");
    CHECK(entry_components(std::string("a\0b", 3), limits).error().what == "NUL in name");
    CHECK_FALSE(entry_components(std::string(256, 'x'), limits).has_value());
    CHECK(entry_components(std::string(255, 'x'), limits).has_value());
    limits.max_path = 10;
    CHECK_FALSE(entry_components("aaaa/bbbb/c", limits).has_value());
    CHECK(entry_components("aaaa/bbbb/", limits).has_value());
}

TEST_CASE("image: the unpacker extracts, hashes and translates whiteouts")
{
    TempDir tmp;
    auto tar = write_tar(tmp.path + "/l.tar.gz",
                         {{"./", 'd', ""}, {"dir/", 'd', ""}, {"dir/file", 'f', "content"}, {"link", 'l', "/etc/passwd"},
                          {"hard", 'h', "dir/file"}, {"implicit/parent/file", 'f', "x"}, {"dir/.wh.gone", 'f', ""},
                          {"opq/.wh..wh..opq", 'f', ""}, {"dir/file", 'f', "replaced"}},
                         true);
    auto result = unpack(tar, tmp.path + "/out");
    REQUIRE_MESSAGE(result.has_value(), (result ? "" : result.error().message()));
    auto out = tmp.path + "/out";
    CHECK(result->entries == 9);
    CHECK(fs::read_symlink(out + "/link") == "/etc/passwd");
    CHECK(fs::file_size(out + "/implicit/parent/file") == 1);
    struct stat st{};
    REQUIRE(::lstat((out + "/dir/gone").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == 0);
    char value[4] = {};
    CHECK(::getxattr((out + "/opq").c_str(), "user.overlay.opaque", value, sizeof(value)) == 1);
    CHECK(value[0] == 'y');
    CHECK_FALSE(fs::exists(out + "/opq/.wh..wh..opq"));
    // The diff_id is the sha256 of the uncompressed stream.
    std::string command = "gzip -dc " + tar + " | sha256sum > " + tmp.path + "/sum";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream sum(tmp.path + "/sum");
    std::string hex;
    sum >> hex;
    CHECK(result->diff_id == "sha256:" + hex);
}

TEST_CASE("image: the unpacker refuses hostile layers and writes nothing outside")
{
    TempDir tmp;
    fs::create_directories(tmp.path + "/outside");
    struct Case {
        const char* what;
        std::vector<Entry> entries;
        const char* message;
    };
    std::string outside = tmp.path + "/outside";
    std::vector<Case> cases = {
        {"dotdot", {{"../outside/x", 'f', "x"}}, "'..' in name"},
        {"absolute", {{outside + "/x", 'f', "x"}}, "absolute name"},
        {"symlinked parent", {{"esc", 'l', outside}, {"esc/x", 'f', "x"}}, "through a symlink"},
        {"relative symlink", {{"esc", 'l', "../outside"}, {"esc/x", 'f', "x"}}, "through a symlink"},
        {"symlinked dir", {{"d/", 'd', ""}, {"d/l", 'l', outside}, {"d/l/sub/", 'd', ""}}, "through a symlink"},
        {"hardlink absolute", {{"h", 'h', outside + "/x"}}, "absolute name"},
        {"hardlink dotdot", {{"h", 'h', "../outside/x"}}, "'..' in name"},
        {"hardlink via symlink", {{"esc", 'l', outside}, {"h", 'h', "esc/x"}}, "through a symlink"},
    };
    std::ofstream(outside + "/x") << "victim";
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto tar = write_tar(tmp.path + "/evil.tar", c.entries);
        auto result = unpack(tar, tmp.path + "/out-" + c.what);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().what.find(c.message) != std::string::npos);
        CHECK(result.error().what.starts_with("refused layer entry"));
    }
    int files = 0;
    for (auto& entry : fs::directory_iterator(outside)) {
        (void)entry;
        ++files;
    }
    CHECK(files == 1);
    CHECK(fs::hard_link_count(outside + "/x") == 1);

    UnpackLimits small;
    small.max_bytes = 10;
    auto big = write_tar(tmp.path + "/big.tar", {{"a", 'f', "12345"}, {"b", 'f', "1234567"}});
    auto refused = unpack(big, tmp.path + "/out-big", small);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().what.find("larger than the limit") != std::string::npos);
    small = {};
    small.max_entries = 2;
    auto many = write_tar(tmp.path + "/many.tar", {{"a", 'f', ""}, {"b", 'f', ""}, {"c", 'f', ""}});
    CHECK_FALSE(unpack(many, tmp.path + "/out-many", small).has_value());
    std::ofstream(tmp.path + "/junk") << "this is not a tar archive at all, not even close........";
    CHECK_FALSE(unpack(tmp.path + "/junk", tmp.path + "/out-junk").has_value());
}

TEST_CASE("image: users and commands from an image config")
{
    using cage::sandbox::parse_image_user;
    std::string passwd = "root:x:0:0::/root:/bin/sh\nsvc:x:100:101::/srv:/bin/sh\nodd:x:5:bad::/:/bin/sh\n";
    std::string group = "svc:x:101:\nwheel:x:10:\n";
    CHECK(*parse_image_user("svc", passwd, group) == std::pair<std::uint32_t, std::uint32_t>{100, 101});
    CHECK(*parse_image_user("100", passwd, group) == std::pair<std::uint32_t, std::uint32_t>{100, 101});
    CHECK(*parse_image_user("42", passwd, group) == std::pair<std::uint32_t, std::uint32_t>{42, 42});
    CHECK(*parse_image_user("svc:wheel", passwd, group) == std::pair<std::uint32_t, std::uint32_t>{100, 10});
    CHECK(*parse_image_user("7:8", "", "") == std::pair<std::uint32_t, std::uint32_t>{7, 8});
    CHECK_FALSE(parse_image_user("nobody", passwd, group).has_value());
    CHECK_FALSE(parse_image_user("svc:nogroup", passwd, group).has_value());
    CHECK_FALSE(parse_image_user("4294967295", passwd, group).has_value());
    auto odd = parse_image_user("odd", passwd, group);  // an unreadable gid falls back to the uid
    REQUIRE(odd.has_value());
    CHECK(odd->second == 5);

    ImageConfig config;
    config.entrypoint = {"/e", "-x"};
    config.cmd = {"default"};
    config.env = {"A=1", "NOVALUE", "=bad", "B="};
    CHECK(cage::sandbox::image_command(config, {}) == Parts{"/e", "-x", "default"});
    CHECK(cage::sandbox::image_command(config, {"mine"}) == Parts{"/e", "-x", "mine"});
    CHECK(cage::sandbox::image_command(config, {"mine"}, Parts{"/other"}) == Parts{"/other", "mine"});
    CHECK(cage::sandbox::image_command(config, {"mine", "2"}, Parts{}) == Parts{"mine", "2"});
    CHECK(cage::sandbox::image_command(config, {}, Parts{}) == Parts{"default"});
    config.entrypoint.clear();
    CHECK(cage::sandbox::image_command(config, {"mine", "2"}) == Parts{"mine", "2"});
    CHECK(cage::sandbox::image_environment(config) == Parts{"A=1", "B="});
}

TEST_CASE("image: WWW-Authenticate challenges")
{
    auto bearer = parse_challenge(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
    REQUIRE(bearer.has_value());
    CHECK(bearer->scheme == "bearer");
    CHECK(bearer->params["realm"] == "https://auth.docker.io/token");
    CHECK(bearer->params["service"] == "registry.docker.io");
    CHECK(bearer->params["scope"] == "repository:library/alpine:pull");
    auto basic = parse_challenge(R"(Basic realm="cage-test")");
    REQUIRE(basic.has_value());
    CHECK(basic->scheme == "basic");
    CHECK(basic->params["realm"] == "cage-test");
    auto unquoted = parse_challenge(R"(bearer realm=https://r/t, service=s ,error="insufficient_scope")");
    REQUIRE(unquoted.has_value());
    CHECK(unquoted->params["realm"] == "https://r/t");
    CHECK(unquoted->params["service"] == "s");
    CHECK(unquoted->params["error"] == "insufficient_scope");
    CHECK(parse_challenge(R"(Bearer realm="a\"b")")->params["realm"] == "a\"b");
    CHECK_FALSE(parse_challenge("Negotiate abc").has_value());
    CHECK_FALSE(parse_challenge(R"(Bearer realm="unterminated)").has_value());
    CHECK(parse_challenge("Basic")->params.empty());
}

TEST_CASE("image: auth files")
{
    CHECK(base64_encode("user:pass") == "dXNlcjpwYXNz");
    CHECK(base64_decode("dXNlcjpwYXNz") == "user:pass");
    CHECK(base64_decode("YQ==") == "a");
    CHECK(base64_decode("YWI=") == "ab");
    CHECK_FALSE(base64_decode("abc").has_value());
    CHECK_FALSE(base64_decode("!!!!").has_value());
    CHECK(normalize_auth_key("https://index.docker.io/v1/") == "docker.io");
    CHECK(normalize_auth_key("registry-1.docker.io") == "docker.io");
    CHECK(normalize_auth_key("http://127.0.0.1:5000") == "127.0.0.1:5000");
    CHECK(normalize_auth_key("ghcr.io") == "ghcr.io");

    std::string file = R"({"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
        "ghcr.io":{"auth":"b3RoZXI6c2VjcmV0OndpdGg6Y29sb25z"}},"credsStore":"desktop"})";
    CHECK(*credentials_in(file, "docker.io") == Credentials{"user", "pass"});
    CHECK(*credentials_in(file, "ghcr.io") == Credentials{"other", "secret:with:colons"});
    CHECK_FALSE(credentials_in(file, "quay.io")->has_value());
    CHECK_FALSE(credentials_in("", "quay.io")->has_value());
    CHECK_FALSE(credentials_in("[]", "quay.io").has_value());
    CHECK_FALSE(credentials_in(R"({"auths":{"q.io":{"auth":"bm9jb2xvbg=="}}})", "q.io").has_value());

    auto updated = with_credentials(file, "docker.io", Credentials{"new", "pw"});
    REQUIRE(updated.has_value());
    CHECK(*credentials_in(*updated, "docker.io") == Credentials{"new", "pw"});
    CHECK(*credentials_in(*updated, "ghcr.io") == Credentials{"other", "secret:with:colons"});
    CHECK(updated->find("index.docker.io") == std::string::npos);  // the old spelling is replaced
    CHECK(updated->find("credsStore") != std::string::npos);       // other settings survive
    auto removed = with_credentials(*updated, "docker.io", std::nullopt);
    REQUIRE(removed.has_value());
    CHECK_FALSE(credentials_in(*removed, "docker.io")->has_value());
    CHECK(credentials_in(*removed, "ghcr.io")->has_value());
}

TEST_CASE("image: the store verifies blobs, unpacks layers once, finds and prunes images")
{
    TempDir tmp;
    auto store = Store::open(tmp.path + "/store");
    REQUIRE(store.has_value());
    REQUIRE(store->lock().has_value());
    // A blob is stored only under the digest of its content.
    auto wrong = store->put_blob("content", zero_digest);
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().what.starts_with("refused blob: its content does not match its digest"));
    CHECK_FALSE(store->has_blob(zero_digest));
    CHECK(fs::is_empty(tmp.path + "/store/blobs/sha256"));
    auto digest = store->put_blob("content", sha256_of("content"));
    REQUIRE(digest.has_value());
    CHECK(*store->read_blob(*digest, 100) == "content");
    CHECK_FALSE(store->read_blob(*digest, 3).has_value());  // over the caller's bound
    {
        auto writer = store->new_blob(4);
        REQUIRE(writer.has_value());
        CHECK_FALSE(writer->write("12345", 5).has_value());  // over the declared size
    }  // an uncommitted writer removes its temporary file

    // A layer: unpacked under its diff_id, refused under another.
    auto tar = write_tar(tmp.path + "/layer.tar", {{"hello", 'f', "world"}});
    int fd = ::open(tar.c_str(), O_RDONLY | O_CLOEXEC);
    auto blob = store->put_blob(fd, "", 1 << 20);
    ::close(fd);
    REQUIRE(blob.has_value());
    auto bad_layer = store->add_layer(*blob, one_digest, UnpackOptions{});
    REQUIRE_FALSE(bad_layer.has_value());
    CHECK(bad_layer.error().what.find("does not match the image's diff_id") != std::string::npos);
    CHECK(fs::is_empty(tmp.path + "/store/layers"));
    std::string diff_id = *blob;  // an uncompressed tar is its own diff
    REQUIRE(store->add_layer(*blob, diff_id, UnpackOptions{}).has_value());
    CHECK(store->has_layer(diff_id));
    std::ifstream hello(store->layer_path(diff_id) + "/hello");
    std::string word;
    hello >> word;
    CHECK(word == "world");

    ImageRecord record{"", *digest, {diff_id}, {*blob}, 5, ""};
    REQUIRE(store->tag("localhost/one:1", record).has_value());
    REQUIRE(store->tag("docker.io/library/two:latest", record).has_value());
    CHECK(store->find("one:1")->first == "localhost/one:1");
    CHECK(store->find("two")->first == "docker.io/library/two:latest");
    CHECK(store->find(std::string(digest_hex(*digest)).substr(0, 6))->second.config == *digest);
    CHECK_FALSE(store->find("three").has_value());
    CHECK_FALSE(store->find("abc").has_value());  // too short to be an id prefix

    auto orphan = store->put_blob("orphan", sha256_of("orphan"));
    REQUIRE(orphan.has_value());
    auto report = store->prune();
    REQUIRE(report.has_value());
    CHECK(report->blobs == Parts{*orphan});
    CHECK(report->layers.empty());
    REQUIRE(store->untag("localhost/one:1").has_value());
    CHECK_FALSE(store->untag("localhost/one:1").has_value());
    CHECK(store->prune()->layers.empty());  // still used by two
    REQUIRE(store->untag("docker.io/library/two:latest").has_value());
    report = store->prune();
    REQUIRE(report.has_value());
    CHECK(report->layers == Parts{diff_id});
    CHECK(report->blobs.size() == 2);
    CHECK(fs::is_empty(tmp.path + "/store/layers"));
    CHECK(fs::is_empty(tmp.path + "/store/blobs/sha256"));
}

TEST_CASE("image: the unpacker survives mutated archives and never writes outside")
{
    TempDir tmp;
    std::vector<Entry> entries = {
        {"./", 'd', ""},       {"dir/", 'd', ""},           {"dir/file", 'f', std::string(700, 'x')},
        {"link", 'l', "dir"},  {"abs", 'l', "/etc/passwd"}, {"hard", 'h', "dir/file"},
        {"dir/.wh.gone", 'f', ""}, {"opq/.wh..wh..opq", 'f', ""},
        {std::string(150, 'n') + "/" + std::string(120, 'm'), 'f', "long name"},
    };
    std::ifstream seed_file(write_tar(tmp.path + "/seed.tar", entries), std::ios::binary);
    std::ostringstream seed_bytes;
    seed_bytes << seed_file.rdbuf();
    std::string seed = seed_bytes.str();
    REQUIRE(seed.size() > 2048);
    fs::create_directories(tmp.path + "/base");
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;  // fixed: the same mutations every run
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    UnpackLimits limits;
    limits.max_bytes = 1 << 20;
    limits.max_entries = 200;
    int unpacked = 0;
    for (int round = 0; round < 600; ++round) {
        std::string mutated = seed;
        for (auto flips = 1 + next() % 8; flips > 0; --flips) {
            auto at = next() % mutated.size();
            switch (next() % 4) {
            case 0: mutated[at] = static_cast<char>(next()); break;
            case 1: mutated[at] = "/.\0"[next() % 3]; break;  // path separators, dots, NULs
            case 2: mutated[at] = static_cast<char>('0' + next() % 8); break;  // octal fields
            default: mutated.resize(std::max<std::size_t>(at, 1)); break;
            }
        }
        auto path = tmp.path + "/mutated.tar";
        std::ofstream(path, std::ios::binary | std::ios::trunc) << mutated;
        auto out = tmp.path + "/base/out";
        auto result = unpack(path, out, limits);
        unpacked += result.has_value();
        for (const auto& entry : fs::directory_iterator(tmp.path + "/base"))
            REQUIRE_MESSAGE(entry.path().filename() == "out", "round ", round, " wrote ", entry.path());
        int base = ::open((tmp.path + "/base").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(remove_tree_at(base, "out").has_value());
        ::close(base);
    }
    CHECK(unpacked > 0);  // some mutations leave a valid archive: the success path ran too
    CHECK(unpacked < 600);
}
