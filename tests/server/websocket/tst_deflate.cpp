#include "websocket/deflate.h"

#include <QtTest/QTest>

#include <optional>

using namespace Switchboard;

class tst_Deflate : public QObject
{
    Q_OBJECT

private slots:
    // ---- negotiation ----

    void negotiate_data()
    {
        QTest::addColumn<QList<QByteArray>>("fields");
        QTest::addColumn<bool>("clientContextTakeover");
        QTest::addColumn<int>("clientMaxWindowBits");
        QTest::addColumn<QByteArray>("expected"); // empty: declined
        QTest::addColumn<int>("serverBits"); // the windows the agreement implies
        QTest::addColumn<int>("clientBits");

        const QByteArray base("permessage-deflate; server_no_context_takeover; "
                              "client_no_context_takeover");
        const QByteArray declined;
        auto row = [](const char *name, QList<QByteArray> fields, const QByteArray &expected,
                      int serverBits = 15, int clientBits = 15, bool takeover = false,
                      int settingsBits = 15) {
            QTest::newRow(name) << fields << takeover << settingsBits << expected << serverBits
                                << clientBits;
        };

        row("Firefox: plain offer", {"permessage-deflate"}, base);
        row("Chrome", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("Python websockets 10 default", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("server_no_context_takeover", {"permessage-deflate; server_no_context_takeover"}, base);
        row("client_no_context_takeover", {"permessage-deflate; client_no_context_takeover"}, base);
        row("all four",
            {"permessage-deflate; client_no_context_takeover; server_max_window_bits=12; "
             "server_no_context_takeover; client_max_window_bits=11"},
            base + "; server_max_window_bits=12; client_max_window_bits=11", 12, 11);

        // Our policy on the client's context.
        row("takeover allowed: plain offer", {"permessage-deflate"},
            "permessage-deflate; server_no_context_takeover", 15, 15, true);
        row("takeover allowed: client_no_context_takeover offered",
            {"permessage-deflate; client_no_context_takeover"}, base, 15, 15, true);
        row("takeover allowed: Chrome", {"permessage-deflate; client_max_window_bits"},
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=15", 15, 15,
            true);

        // server_max_window_bits binds our compressor; 8 is more than zlib can honour.
        row("server_max_window_bits=15", {"permessage-deflate; server_max_window_bits=15"},
            base + "; server_max_window_bits=15");
        row("server_max_window_bits=10", {"permessage-deflate; server_max_window_bits=10"},
            base + "; server_max_window_bits=10", 10);
        row("server_max_window_bits=9", {"permessage-deflate; server_max_window_bits=9"},
            base + "; server_max_window_bits=9", 9);
        row("server_max_window_bits=8", {"permessage-deflate; server_max_window_bits=8"}, declined);
        row("server_max_window_bits=16", {"permessage-deflate; server_max_window_bits=16"},
            declined);
        row("server_max_window_bits=7", {"permessage-deflate; server_max_window_bits=7"}, declined);
        row("server_max_window_bits without value", {"permessage-deflate; server_max_window_bits"},
            declined);
        row("server_max_window_bits=010", {"permessage-deflate; server_max_window_bits=010"},
            declined);
        row("server_max_window_bits=1a", {"permessage-deflate; server_max_window_bits=1a"},
            declined);

        // client_max_window_bits: answered only when offered, never above the offer.
        row("client_max_window_bits=10", {"permessage-deflate; client_max_window_bits=10"},
            base + "; client_max_window_bits=10", 15, 10);
        row("client_max_window_bits=8", {"permessage-deflate; client_max_window_bits=8"},
            base + "; client_max_window_bits=8", 15, 8);
        row("client_max_window_bits=15, policy 12",
            {"permessage-deflate; client_max_window_bits=15"}, base + "; client_max_window_bits=12",
            15, 12, false, 12);
        row("client_max_window_bits, policy 10", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=10", 15, 10, false, 10);
        row("client_max_window_bits=9, policy 10", {"permessage-deflate; client_max_window_bits=9"},
            base + "; client_max_window_bits=9", 15, 9, false, 10);
        row("policy 10, not offered", {"permessage-deflate"}, base, 15, 15, false, 10);
        row("client_max_window_bits=16", {"permessage-deflate; client_max_window_bits=16"},
            declined);
        row("client_max_window_bits=7", {"permessage-deflate; client_max_window_bits=7"}, declined);
        row("client_max_window_bits=", {"permessage-deflate; client_max_window_bits="}, declined);

        // Quoted-string values (RFC 6455 §9.1: must unescape to a token).
        row("quoted value", {"permessage-deflate; client_max_window_bits=\"10\""},
            base + "; client_max_window_bits=10", 15, 10);
        row("quoted value with escape", {"permessage-deflate; server_max_window_bits=\"1\\1\""},
            base + "; server_max_window_bits=11", 11);
        row("quoted value, not a token", {"permessage-deflate; client_max_window_bits=\"1 0\""},
            declined);
        row("quoted value, unterminated", {"permessage-deflate; client_max_window_bits=\"10"},
            declined);

        // RFC 7692 §7: offers the server must decline.
        row("value where none is allowed", {"permessage-deflate; server_no_context_takeover=1"},
            declined);
        row("quoted value where none is allowed",
            {"permessage-deflate; client_no_context_takeover=\"x\""}, declined);
        row("duplicate parameter",
            {"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, declined);
        row("duplicate flag",
            {"permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
            declined);
        row("unknown parameter", {"permessage-deflate; x_max_window_bits=10"}, declined);
        row("unknown flag", {"permessage-deflate; foo"}, declined);

        // Several offers: the first acceptable one wins.
        row("first unacceptable, second taken",
            {"permessage-deflate; server_max_window_bits=8, permessage-deflate; "
             "client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("first has unknown parameter, second plain",
            {"permessage-deflate; foo=bar, permessage-deflate"}, base);
        row("first acceptable wins",
            {"permessage-deflate; client_max_window_bits=9, permessage-deflate"},
            base + "; client_max_window_bits=9", 15, 9);
        row("another extension before", {"x-webkit-deflate-frame, permessage-deflate"}, base);
        row("another extension with parameters",
            {"foo; bar=\"baz\"; qux, permessage-deflate; server_max_window_bits=13"},
            base + "; server_max_window_bits=13", 13);
        row("several fields", {"x-foo", "permessage-deflate; client_max_window_bits=12"},
            base + "; client_max_window_bits=12", 15, 12);
        row("several fields, first declined",
            {"permessage-deflate; server_max_window_bits=8", "permessage-deflate"}, base);
        row("only other extensions", {"x-webkit-deflate-frame; no_context_takeover"}, declined);
        row("no field", {}, declined);
        row("empty field", {""}, declined);
        row("optional whitespace",
            {"  permessage-deflate ;\tclient_max_window_bits = 11 ;server_max_window_bits= 10 "},
            base + "; server_max_window_bits=10; client_max_window_bits=11", 10, 11);
        row("empty list elements", {" , ,permessage-deflate,, "}, base);
        row("names are case-sensitive", {"Permessage-Deflate"}, declined);

        // Bad syntax declines everything, even a good offer before it.
        row("trailing semicolon", {"permessage-deflate;"}, declined);
        row("missing semicolon", {"permessage-deflate client_max_window_bits"}, declined);
        row("parameter without name", {"permessage-deflate; =10"}, declined);
        row("bad character", {"permessage-deflate, x@y"}, declined);
        row("malformed after a good offer", {"permessage-deflate, foo;;"}, declined);
        row("malformed second field", {"permessage-deflate", "foo bar"}, declined);
        row("control character", {QByteArray("permessage-deflate\0", 19)}, declined);
    }

    void negotiate()
    {
        QFETCH(QList<QByteArray>, fields);
        QFETCH(bool, clientContextTakeover);
        QFETCH(int, clientMaxWindowBits);
        QFETCH(QByteArray, expected);
        QFETCH(int, serverBits);
        QFETCH(int, clientBits);

        DeflateSettings settings;
        settings.enabled = true;
        settings.clientContextTakeover = clientContextTakeover;
        settings.clientMaxWindowBits = clientMaxWindowBits;
        const std::optional<DeflateParameters> agreed = negotiateDeflate(fields, settings);
        if (expected.isEmpty()) {
            QVERIFY2(!agreed, agreed ? agreed->responseValue().constData() : "");
            return;
        }
        QVERIFY(agreed);
        QCOMPARE(agreed->responseValue(), expected);
        QVERIFY(agreed->serverNoContextTakeover);
        QCOMPARE(agreed->serverWindowBits(), serverBits);
        QCOMPARE(agreed->clientWindowBits(), clientBits);
        // Our answer, offered back, is accepted as it stands.
        QCOMPARE(negotiateDeflate({agreed->responseValue()}, settings), agreed);

        settings.enabled = false;
        QVERIFY(!negotiateDeflate(fields, settings));
    }
};

QTEST_GUILESS_MAIN(tst_Deflate)
#include "tst_deflate.moc"
